"""Show build and push progress: rich bars on a terminal, plain throttled lines elsewhere.

Bars need a terminal that can move the cursor; a CI log, a pipe or a dumb terminal
(``TERM=dumb``) gets one plain line per step and per layer status change instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn
from rich.progress import Progress as Bars
from rich.table import Column
from rich.text import Text

from pipeline_kit.runtime.build import Progress, ProgressEvent, clean

# "scheme://user:secret@host" → "scheme://host": output lines may quote URLs.
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
# The classic builder's bookkeeping lines: intermediate ids and container removals.
_NOISE = ("--->", "Removing intermediate container")
# A layer's final states (push), after which its bar is full.
_DONE = ("Pushed", "Layer already exists", "Mounted from", "Already exists", "Pull complete")
# A bar row: spinner, description, bar, amount (up to "999.9 MB/999.9 MB"), one space
# between each two. The bar is _BAR wide when there is room, never under _MIN_BAR; the
# description takes the rest, and gets up to _DESCRIPTION by narrowing the bar.
_BAR, _MIN_BAR, _DESCRIPTION, _OTHERS = 40, 20, 40, 1 + 17 + 4


def _safe(text: str) -> str:
    return _USERINFO.sub("", clean(text))


def _status(message: str) -> str:
    """``Layer already exists`` → ``already exists``; ``Pushed`` → ``pushed``."""
    text = message.removeprefix("Layer ")
    return text[:1].lower() + text[1:]


def _is_noise(message: str) -> bool:
    return not message or message.startswith(_NOISE)


class _Plain:
    """One line per build output line, and per layer status change (not per byte update)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.layers: dict[tuple[str, str], str] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if event.layer is not None:
            status = _status(event.message)
            key = (event.phase, event.layer)
            if not status or self.layers.get(key) == status:
                return
            self.layers[key] = status
            self._say(f"{event.phase}: layer {event.layer} {status}")
        elif not _is_noise(event.message):
            self._say(f"{event.phase}: {event.message}")

    def _say(self, line: str) -> None:
        self.console.print(_safe(line), markup=False, highlight=False, soft_wrap=True)


class _DescriptionColumn(TextColumn):
    """The task's description, cut (``…``) to the room the bar and the amount leave.

    The full text of a build step is printed above the bars; cutting the description keeps
    the bar and the amount whole on a narrow (80-column) terminal.
    """

    def __init__(self, console: Console) -> None:
        super().__init__("{task.description}", markup=False)
        self.console = console

    def get_table_column(self) -> Column:
        width = self.console.width - _OTHERS
        room = max(width - _BAR, min(width - _MIN_BAR, _DESCRIPTION), 10)
        return Column(no_wrap=True, overflow="ellipsis", max_width=room)


class _AmountColumn(ProgressColumn):
    """``2/5`` for build steps, ``1.2/3.4 MB`` for layers."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        if task.fields.get("unit") == "bytes":
            if not task.fields.get("sized"):  # "Layer already exists": no byte counts
                return Text("")
            return Text(f"{decimal(int(task.completed))}/{decimal(int(task.total))}")
        return Text(f"{int(task.completed)}/{int(task.total)}")


class _Live:
    """A spinner and the current step for a build; one byte bar per layer for a push."""

    def __init__(self, console: Console) -> None:
        self.bars = Bars(
            SpinnerColumn(),
            _DescriptionColumn(console),
            BarColumn(bar_width=None, table_column=Column(min_width=4, max_width=_BAR)),
            _AmountColumn(),
            console=console,
        )
        self.build: TaskID | None = None
        self.layers: dict[tuple[str, str], TaskID] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if event.layer is not None:
            self._layer(event, event.layer)
        elif event.phase == "build" and event.total is not None and event.current is not None:
            self._step(event, event.current, event.total)
        elif not _is_noise(event.message):
            self.bars.console.print(
                _safe(f"{event.phase}: {event.message}"), markup=False, highlight=False, style="dim"
            )

    def _step(self, event: ProgressEvent, step: int, steps: int) -> None:
        description = _safe(f"build: {event.message}")
        self.bars.console.print(description, markup=False, highlight=False)
        if self.build is None:
            self.build = self.bars.add_task(description, total=steps, unit="steps")
        self.bars.update(self.build, description=description, total=steps, completed=step - 1)

    def _layer(self, event: ProgressEvent, layer: str) -> None:
        key = (event.phase, layer)
        description = _safe(f"{event.phase} {layer} {_status(event.message)}")
        task = self.layers.get(key)
        if task is None:
            task = self.layers[key] = self.bars.add_task(description, total=None, unit="bytes")
        if event.message.startswith(_DONE):
            total = self.bars.tasks[self._index(task)].total or 1
            self.bars.update(task, description=description, total=total, completed=total)
        elif event.total:
            self.bars.update(
                task,
                description=description,
                total=event.total,
                completed=event.current or 0,
                sized=True,
            )
        else:
            self.bars.update(task, description=description)

    def _index(self, task: TaskID) -> int:
        return next(i for i, t in enumerate(self.bars.tasks) if t.id == task)

    def finish(self) -> None:
        """Fill every bar: the build or push completed."""
        for task in self.bars.tasks:
            total = task.total or 1
            self.bars.update(task.id, total=total, completed=total)


@contextmanager
def make_progress(console: Console) -> Iterator[Progress]:
    """A progress callback for :func:`build_image` / :func:`push_image` on ``console``.

    Bars on an interactive terminal; plain lines in a log, a pipe or a dumb terminal, where
    bars could not be redrawn in place (rich would print them once, at the end).
    """
    if not console.is_interactive:
        yield _Plain(console)
        return
    live = _Live(console)
    with live.bars:
        yield live
        live.finish()
