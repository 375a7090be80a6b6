"""Timing and reporting helpers shared by the benchmarks: subprocess wall clock, medians,
and the figures table. Nothing here asserts anything about time."""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

INPROC = Path(__file__).with_name("inproc.py")


class BenchError(Exception):
    """A command failed: the figures would be meaningless."""


def run_guarded(body: Callable[[], None], failures: tuple[type[BaseException], ...] = ()) -> int:
    """Run a benchmark: exit 1 with one line when it or a system it drives fails, else print
    the total time and exit 0."""
    began = time.perf_counter()
    try:
        body()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except failures as exc:
        text = str(exc).strip().splitlines()
        print(f"error: {type(exc).__name__}: {text[0][:300] if text else ''}", file=sys.stderr)
        return 1
    print(f"\ntotal {time.perf_counter() - began:.1f} s")
    return 0


# -- timing ------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: the CLI runs (seconds) and the in-process median."""

    size: int | None
    operation: str
    cli_runs: list[float]
    inproc: float | None
    note: str = ""

    @property
    def cli(self) -> float | None:
        return statistics.median(self.cli_runs) if self.cli_runs else None

    @property
    def cli_min(self) -> float | None:
        return min(self.cli_runs) if self.cli_runs else None


def cli_command() -> list[str]:
    """The ``pipeline-kit`` console script of this virtualenv, as a user would run it."""
    script = Path(sys.executable).parent / "pipeline-kit"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "pipeline_kit"]


def run_timed(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall-clock seconds of one subprocess (stdout discarded); raises when it fails."""
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[:2000]}")
    return elapsed


@dataclass(frozen=True)
class Inproc:
    """One command run by benchmarks/inproc.py: its imports and its ``main()`` call (s)."""

    imports: float
    main: float


def run_inproc(
    args: Sequence[str], cwd: Path, env: dict[str, str], modules: Path, record: bool = False
) -> Inproc:
    """``pipeline_kit.cli.main.main(args)`` in a fresh interpreter, timed from inside: after
    importing every module listed in ``modules`` (or, with ``record``, adding to that list
    the modules the run imports). Raises when the command fails."""
    with tempfile.TemporaryDirectory(prefix="pk-inproc-") as scratch:
        out = Path(scratch) / "times.json"
        mode = "record" if record else "preload"
        argv = [sys.executable, str(INPROC), str(out), mode, str(modules), "--", *args]
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            error = proc.stderr.strip()[:2000]
            raise BenchError(f"in-process {' '.join(args)} exited {proc.returncode}: {error}")
        times = json.loads(out.read_text())
    return Inproc(float(times["imports"]), float(times["main"]))


def cli_runs(argv: Sequence[str], cwd: Path, env: dict[str, str], repeat: int) -> list[float]:
    """Wall clock of ``repeat`` runs, after one untimed run that warms the caches."""
    run_timed(argv, cwd, env)
    return [run_timed(argv, cwd, env) for _ in range(repeat)]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_inproc(fn: Callable[[], object], repeat: int) -> float:
    gc.collect()  # garbage of the previous measurement is not this one's cost
    return statistics.median(timed(fn) for _ in range(repeat))


def settle() -> None:
    """Flush dirty pages (the state file, the imported database) before timing anything."""
    gc.collect()
    if hasattr(os, "sync"):
        os.sync()


# -- report ------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_table(rows: list[Row]) -> None:
    header = ("size", "operation", "CLI s", "CLI min", "in-proc s", "CLI - in-proc", "note")
    table = [
        (
            "-" if r.size is None else str(r.size),
            r.operation,
            fmt(r.cli),
            fmt(r.cli_min),
            fmt(r.inproc),
            fmt(r.cli - r.inproc) if r.cli is not None and r.inproc is not None else "-",
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in (header, *table)) for i in range(len(header))]
    right = {0, 2, 3, 4, 5}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(header))
    print(line(["-" * w for w in widths]))
    for cells in table:
        print(line(cells))
