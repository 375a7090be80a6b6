"""The timeline: the history, newest first, a page of ``PAGE_SIZE`` entries at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline_kit.dashboard.layout import esc, page, row, table

PAGE_SIZE = 100


def page_name(number: int) -> str:
    return "timeline.html" if number == 1 else f"timeline-{number}.html"


def _stages(versions: Mapping[str, Sequence[str]], order: Sequence[str]) -> str:
    """``prod=1.0.0 qa=1.1.0``: in the configured order, then any other position."""
    rank = {stage: i for i, stage in enumerate(order)}
    keys = sorted(versions, key=lambda s: (rank.get(s, len(rank)), s))
    return " ".join(f"{stage}={'|'.join(sorted(set(versions[stage])))}" for stage in keys)


def _changes(entry: Mapping[str, Any], order: Sequence[str]) -> str:
    lines = []
    for service, change in sorted(entry["changes"].items()):
        before = _stages(change.get("before", {}), order)
        after = _stages(change.get("after", {}), order)
        lines.append(
            f'<a href="services/{esc(service)}.html">{esc(service)}</a>: '
            f"{esc(before or '–')} → {esc(after or '–')}"
        )
    return "<br>".join(lines) or "–"


def _row(entry: Mapping[str, Any], order: Sequence[str]) -> str:
    action = str(entry["action"])
    args = " ".join(
        f"{k}={v}" for k, v in sorted(entry["args"].items()) if v is not None and v != []
    )
    mark = ""
    css = ""
    if action == "rollback":
        mark, css = ' <span class="mark">rollback</span>', ' class="rollback"'
    elif action == "reject":
        mark, css = ' <span class="mark">rejected</span>', ' class="reject"'
    cells = [
        str(entry["id"]),
        esc(str(entry["at"])[:19].replace("T", " ")),
        esc(entry["actor"]),
        esc(action) + mark,
        esc(args),
        _changes(entry, order),
    ]
    return row(cells, f' data-id="{esc(entry["id"])}"{css}')


def _nav(number: int, count: int) -> str:
    if count <= 1:
        return ""
    links = [
        f"<b>{n}</b>" if n == number else f'<a href="{page_name(n)}">{n}</a>'
        for n in range(1, count + 1)
    ]
    return '<nav class="pages">page ' + " ".join(links) + "</nav>\n"


def timeline(history: Sequence[Mapping[str, Any]], order: Sequence[str]) -> dict[str, str]:
    """Every timeline page by file name; the history is oldest first, pages newest first."""
    newest = list(reversed(history))
    count = max(1, -(-len(newest) // PAGE_SIZE))
    headers = ["#", "when (UTC)", "who", "action", "arguments", "before → after"]
    out = {}
    for number in range(1, count + 1):
        chunk = newest[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
        body = (
            f'<p class="small">{len(newest)} entries, newest first</p>\n'
            + _nav(number, count)
            + table(headers, [_row(e, order) for e in chunk], "timeline")
            + _nav(number, count)
        )
        out[page_name(number)] = page("timeline", body)
    return out
