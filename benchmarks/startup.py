"""The CLI's fixed cost: what a ``pipeline-kit`` run pays besides the command's own work.

Side by side, wall clock, median of ``--repeat`` runs after one untimed run:

* ``python -c pass``: the interpreter's floor.
* ``pipeline-kit --help``: the interpreter, the CLI module and its parser.
* ``pipeline-kit show services`` on a small state: one service of two stacks, SQLite,
  ``runtime = "none"`` (as ``pipeline-kit init`` writes it).
* ``pipeline-kit promote web 1.1.0 --to prod`` on a real Docker engine: two containers
  started and health-checked, the state committed, two removed, on top of the 12 that
  ``deploy`` started; beside the sequential script doing the same ``docker run``, wait and
  ``docker rm -f`` (the scenario and rounds of benchmarks/promote_docker.py).

For each pipeline-kit command: its CLI wall clock; in-process, the same command as
``pipeline_kit.cli.main.main([...])`` in a fresh interpreter that first imports every module
the command imports, timed from inside (benchmarks/inproc.py); their difference, the fixed
cost (interpreter start-up, imports, exit); and the imports alone.

It prints the figures beside the targets; it asserts nothing about time. It exits 1 with
one line when a command fails. ``--no-docker`` leaves the promote out.

    .venv/bin/python -m benchmarks.startup [--repeat 5] [--no-docker]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.docker_bench import CONTAINERS, FAILURES, STACKS, scene
from benchmarks.promote_docker import PROMOTE_ARGS, Times, rounds
from benchmarks.timing import (
    Row,
    cli_command,
    cli_runs,
    fmt,
    print_table,
    run_guarded,
    run_inproc,
    run_timed,
)

TARGET_FIXED_S = 0.20
TARGET_PROMOTE_RATIO = 1.0  # pipeline-kit / the sequential script
TARGET_DEPLOY_RATIO = 0.8  # benchmarks/promote_docker.py measures it in full


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def median(values: list[float]) -> float:
    return statistics.median(values)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_KIT_")}
    env.pop("GITHUB_ACTIONS", None)
    env.setdefault("USER", "bench")
    return env


def side_by_side(
    args: list[str], folder: Path, env: dict[str, str], repeat: int, note: str
) -> tuple[Row, float]:
    """The CLI and the in-process run of one command, alternating: its row, and the median
    of the in-process imports."""
    modules = folder.parent / f"modules-{args[0].strip('-')}.txt"
    cli = [*cli_command(), *args]
    run_timed(cli, folder, env)  # untimed: warms the caches
    run_inproc(args, folder, env, modules, record=True)
    outside: list[float] = []
    inside: list[float] = []
    imports: list[float] = []
    for k in range(repeat):
        if k % 2:
            outside.append(run_timed(cli, folder, env))
        run = run_inproc(args, folder, env, modules)
        inside.append(run.main)
        imports.append(run.imports)
        if not k % 2:
            outside.append(run_timed(cli, folder, env))
    row = Row(None, f"pipeline-kit {' '.join(args)}", outside, median(inside), note)
    return row, median(imports)


def local_rows(repeat: int) -> tuple[list[Row], dict[str, float]]:
    """python -c pass, --help and show services on a small state; the imports per row."""
    env = clean_env()
    rows = [
        Row(
            None,
            "python -c pass",
            cli_runs([sys.executable, "-c", "pass"], Path.cwd(), env, repeat),
            None,
            "the floor",
        )
    ]
    imports: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="pk-startup-") as scratch:
        folder = Path(scratch) / "project"
        folder.mkdir()
        cli = cli_command()
        run_timed([*cli, "init"], folder, env)
        add = ["service", "add", "web", "--image", "webapp", "--stacks", "2", "--version", "1.0.0"]
        run_timed([*cli, *add], folder, env)
        for args, note in (
            (["--help"], "the parser only"),
            (["show", "services"], "1 service, 2 stacks, SQLite, runtime none"),
        ):
            row, imports[row_key(args)] = side_by_side(args, folder, env, repeat, note)
            rows.append(row)
    return rows, imports


def row_key(args: list[str]) -> str:
    return " ".join(args)


def docker_rows(repeat: int) -> tuple[list[Row], Times]:
    """The promote rounds of benchmarks/promote_docker.py (each after a deploy of 12)."""
    with scene(repeat) as scenery:
        times = rounds(scenery.client, scenery.project, scenery.baseline, repeat)
    rows = [
        Row(
            STACKS,
            f"pipeline-kit {row_key(PROMOTE_ARGS)}",
            times["pk promote"],
            median(times["inproc promote"]),
            "runtime docker: 2 started, 2 removed",
        ),
        Row(
            STACKS,
            "bash: 2 x docker run + wait + 2 x rm -f",
            times["base promote"],
            None,
            "the script",
        ),
    ]
    return rows, times


def report(rows: list[Row], imports: dict[str, float], times: Times | None) -> None:
    floor = rows[0].cli or 0.0
    print("\nfixed cost = CLI - in-process (medians), with the imports as timed inside:")
    for row in rows[1:]:
        if row.inproc is None or row.cli is None:
            continue
        fixed = row.cli - row.inproc
        key = row.operation.removeprefix("pipeline-kit ")
        print(
            f"  {key:<28} {fmt(fixed)} s (imports {fmt(imports[key])} s, interpreter "
            f"{fmt(floor)} s)  target <= {TARGET_FIXED_S:.2f} s: {verdict(fixed <= TARGET_FIXED_S)}"
        )
    if times is None:
        return
    promote = median(times["pk promote"]) / median(times["base promote"])
    deploy = median(times["pk deploy"]) / median(times["base deploy"])
    print("\ntargets against the sequential script (ratio = pipeline-kit CLI / script):")
    print(
        f"  {STACKS}-stack promote <= {TARGET_PROMOTE_RATIO:g}x: {promote:.2f}x "
        f"[{verdict(promote <= TARGET_PROMOTE_RATIO)}]"
    )
    print(
        f"  {CONTAINERS}-container deploy <= {TARGET_DEPLOY_RATIO:g}x: {deploy:.2f}x "
        f"[{verdict(deploy <= TARGET_DEPLOY_RATIO)}] (the same rounds; see promote_docker)"
    )


def bench(repeat: int, with_docker: bool) -> None:
    print(f"startup: {' '.join(cli_command())}; repeat {repeat} (median reported)", flush=True)
    rows, imports = local_rows(repeat)
    times = None
    if with_docker:
        more, times = docker_rows(repeat)
        rows += more
        imports[row_key(PROMOTE_ARGS)] = median(times["imports promote"])
    print()
    print_table(rows)
    report(rows, imports, times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--no-docker", action="store_true", help="leave the promote out")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return run_guarded(lambda: bench(args.repeat, not args.no_docker), FAILURES)


if __name__ == "__main__":
    sys.exit(main())
