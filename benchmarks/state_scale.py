"""How pipeline-kit scales with the number of services in the state.

For each size N (default 1000 and 10000 services; each service has 2 stacks of height 4,
one endpoint per 10 services with its 3 trees), the script writes a state file in the
export format, imports it with ``pipeline-kit state import`` into a fresh SQLite database,
then times what a user runs, as a subprocess (wall clock, median of ``--repeat`` runs):

* ``pipeline-kit check``                          (whole-state check; must exit 0)
* ``pipeline-kit promote svc-XXXX v1.4.0 --to prod`` (a different service on every run; run
  after all sizes are imported, the sizes interleaved run by run)
* ``pipeline-kit show services --json``            (stdout to /dev/null)

and the same work in-process (``pipeline_kit.pipeline.manage.check`` / ``execute`` /
``load_state`` + the JSON renderer), which separates interpreter start-up and imports from
the work itself. Independent of N: ``pipeline-kit --help``, ``python -c "import
pipeline_kit.cli.main"`` and ``python -c pass`` (the floor).

Every CLI series starts with one untimed warm-up run (each run is still a new process, with
the OS file cache warm); pending writes are flushed (``os.sync``) after the import so that
write-back does not land in the timings. The import itself is timed once per size (CLI into
the benchmark database, in-process into a scratch database that is deleted afterwards).

It prints figures and the targets to compare them with; it asserts nothing about time. It
does fail (exit 1) when a command fails, e.g. when ``check`` finds a violation.

    .venv/bin/python -m benchmarks.state_scale [--sizes 1000,10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import io
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pydantic
import sqlalchemy

from benchmarks.state_file import (
    NEW_VERSION,
    build_document,
    promote_targets,
)
from benchmarks.timing import (
    BenchError,
    Row,
    cli_command,
    cli_runs,
    fmt,
    median_inproc,
    print_table,
    run_timed,
    settle,
    timed,
)
from pipeline_kit import config
from pipeline_kit.cli import main as cli_main
from pipeline_kit.cli import render, shapes
from pipeline_kit.model import actions
from pipeline_kit.model.actions import Context
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline import manage
from pipeline_kit.store.database import Scope

CONFIG_TEXT = """\
# written by benchmarks/state_scale.py
stages = ["prod", "qa", "dev"]
versions = "non-decreasing"
min_stacks = 1
max_height = 4
distinct_hosts = false
runtime = "none"

[gates.prod]
prereleases = false
"""

HEAVY_IMPORTS = (
    "import pipeline_kit.cli.main, pipeline_kit.pipeline.manage, pipeline_kit.cli.render, "
    "pipeline_kit.model.actions"
)

TARGET_CHECK_S = 1.0  # check of 10,000 services
TARGET_HELP_S = 0.3  # --help cold start


# -- environment ----------------------------------------------------------------------------


def bench_env(db_url: str | None = None) -> dict[str, str]:
    """The caller's environment without PIPELINE_KIT_* overrides, plus the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(config.ENV_PREFIX)}
    env.pop("GITHUB_ACTIONS", None)
    if db_url is not None:
        env[config.ENV_PREFIX + "DB"] = db_url
    return env


# -- in-process operations (the code paths the CLI commands call) ---------------------------


def inproc_check(settings: config.Settings) -> None:
    state, found = manage.check(settings)
    if found:
        raise BenchError(f"check found {len(found)} violations, e.g. {found[0]}")
    if not state.services:
        raise BenchError("check saw no services")


def inproc_promote(settings: config.Settings, service: str) -> None:
    def build(state: State, ctx: Context) -> Plan:
        return actions.promote(state, ctx, service, "prod", NEW_VERSION)

    outcome = manage.execute(settings, Scope(services=frozenset({service})), build)
    if not outcome.applied:
        raise BenchError(f"promote of {service} was not applied")


def inproc_show_services(settings: config.Settings) -> None:
    state = manage.load_state(settings, None)  # pattern '*' is not exact: the whole state
    services = [state.services[n] for n in sorted(state.services)]
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        render.emit_json([shapes.service_json(s, settings.policy) for s in services])


def inproc_help() -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main.main(["--help"])
    if code != 0:
        raise BenchError(f"main(['--help']) returned {code}")


# -- one size ----------------------------------------------------------------------------------


@dataclass
class Prepared:
    """One imported state, kept for the promote phase."""

    n: int
    folder: Path
    env: dict[str, str]
    settings: config.Settings


def bench_size(n: int, root: Path, repeat: int, cli: list[str]) -> tuple[list[Row], Prepared]:
    folder = root / f"n{n}"
    folder.mkdir()
    (folder / config.FILE_NAME).write_text(CONFIG_TEXT)
    state_file = folder / "state.json"
    start = time.perf_counter()
    document = build_document(n)
    state_file.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    del document
    built = time.perf_counter() - start
    size_mb = state_file.stat().st_size / 1e6
    print(f"  N={n}: wrote {state_file.name} ({size_mb:.1f} MB) in {built:.2f} s", flush=True)

    db_url = f"sqlite:///{folder / 'state.db'}"
    env = bench_env(db_url)
    rows: list[Row] = []

    # import: one run each (an import needs an empty database), CLI then in-process
    t_cli = run_timed([*cli, "state", "import", str(state_file)], folder, env)
    scratch = f"sqlite:///{folder / 'scratch.db'}"
    scratch_settings = config.load(folder, bench_env(scratch))
    t_in = timed(lambda: manage.import_state(scratch_settings, state_file))
    for suffix in ("", "-wal", "-shm"):
        (folder / f"scratch.db{suffix}").unlink(missing_ok=True)
    rows.append(Row(n, "state import", [t_cli], t_in, "1 run each"))
    print(f"  N={n}: imported (CLI {t_cli:.2f} s)", flush=True)

    settle()
    settings = config.load(folder, env)
    if settings.source != folder / config.FILE_NAME or settings.policy.max_height != 4:
        raise BenchError(f"unexpected settings: {settings}")

    rows.append(
        Row(
            n,
            "check",
            cli_runs([*cli, "check"], folder, env, repeat),
            median_inproc(lambda: inproc_check(settings), repeat),
        )
    )
    rows.append(
        Row(
            n,
            "show services --json",
            cli_runs([*cli, "show", "services", "--json"], folder, env, repeat),
            median_inproc(lambda: inproc_show_services(settings), repeat),
        )
    )
    return rows, Prepared(n, folder, env, settings)


def bench_promotes(prepared: list[Prepared], repeat: int, cli: list[str]) -> list[Row]:
    """Promote a different service on every run, the sizes interleaved run by run.

    Interleaving puts every size under the same machine conditions, so the ratio between
    sizes is not skewed by whatever ran before (on 2 cores, the short runs are visibly
    perturbed right after a heavy import or whole-state read).
    """
    targets = {p.n: promote_targets(p.n, 2 * repeat) for p in prepared}
    cli_times: dict[int, list[float]] = {p.n: [] for p in prepared}
    in_times: dict[int, list[float]] = {p.n: [] for p in prepared}
    settle()
    for p in prepared:  # warm-up: the same command as a dry run (changes nothing)
        argv = [*cli, "promote", targets[p.n][0], NEW_VERSION, "--to", "prod", "--dry-run"]
        run_timed(argv, p.folder, p.env)
    for k in range(repeat):
        for p in prepared:
            argv = [*cli, "promote", targets[p.n][k], NEW_VERSION, "--to", "prod"]
            cli_times[p.n].append(run_timed(argv, p.folder, p.env))
    gc.collect()
    for k in range(repeat, 2 * repeat):
        for p in prepared:
            work = functools.partial(inproc_promote, p.settings, targets[p.n][k])
            in_times[p.n].append(timed(work))
    rows = []
    for p in prepared:
        inproc_check(p.settings)  # the promoted state must still be valid
        rows.append(
            Row(
                p.n,
                "promote SVC v1.4.0 --to prod",
                cli_times[p.n],
                statistics.median(in_times[p.n]),
                f"{repeat} CLI + {repeat} in-proc services, sizes interleaved",
            )
        )
    return rows


# -- report ------------------------------------------------------------------------------------


def find(rows: list[Row], size: int | None, operation: str) -> Row | None:
    for r in rows:
        if r.size == size and r.operation.startswith(operation):
            return r
    return None


def print_targets(rows: list[Row], sizes: list[int]) -> None:
    def verdict(value: float | None, limit: float) -> str:
        if value is None:
            return "n/a"
        return "met" if value < limit else "MISSED"

    print("\ntargets (for comparison; nothing is asserted):")
    largest = max(sizes)
    check = find(rows, largest, "check")
    label = "10,000" if largest == 10000 else f"{largest} (largest size run, target is for 10,000)"
    if check is not None:
        print(
            f"  check of {label} services < {TARGET_CHECK_S:g} s: CLI {fmt(check.cli)} s "
            f"[{verdict(check.cli, TARGET_CHECK_S)}], in-process {fmt(check.inproc)} s"
        )
    small, big = find(rows, min(sizes), "promote"), find(rows, largest, "promote")
    if small is not None and big is not None and len(sizes) > 1:
        pairs = (
            ("CLI median", small.cli, big.cli),
            ("CLI min", small.cli_min, big.cli_min),
            ("in-process", small.inproc, big.inproc),
        )
        for kind, a, b in pairs:
            if a and b:
                print(
                    f"  promote independent of N: {kind} promote@{largest} / "
                    f"promote@{min(sizes)} = {b / a:.2f} (1.0 is ideal; "
                    f"{largest / min(sizes):g} would be linear)"
                )
    else:
        print("  promote independent of N: needs at least two sizes")
    help_row = find(rows, None, "--help")
    if help_row is not None:
        print(
            f"  --help cold start < {TARGET_HELP_S:g} s: {fmt(help_row.cli)} s "
            f"[{verdict(help_row.cli, TARGET_HELP_S)}]"
        )


def machine_info() -> None:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(f"machine: {platform.platform()}")
    nproc = affinity if affinity is not None else os.cpu_count()
    print(f"  nproc {nproc} (cpu_count {os.cpu_count()})")
    print(f"  python {platform.python_version()} ({sys.executable})")
    print(
        f"  sqlite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}, "
        f"pydantic {pydantic.VERSION}"
    )


# -- main --------------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1000,10000, not {text!r}") from None
    if not sizes or any(s < 2 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be integers >= 2")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=[1000, 10000],
        help="comma-separated numbers of services (default 1000,10000)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs per measurement; the median is reported"
    )
    args = parser.parse_args(argv)
    sizes: list[int] = args.sizes
    repeat: int = args.repeat
    if repeat < 1:
        parser.error("--repeat must be at least 1")

    began = time.perf_counter()
    machine_info()
    cli = cli_command()
    print(f"  cli: {' '.join(cli)}; repeat {repeat} (median reported)\n", flush=True)
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="pk-state-scale-") as tmp:
            root = Path(tmp)
            env = bench_env(f"sqlite:///{root / 'empty.db'}")
            py = sys.executable
            rows.append(
                Row(
                    None,
                    "python -c pass (floor)",
                    cli_runs([py, "-c", "pass"], root, env, repeat),
                    None,
                )
            )
            rows.append(
                Row(
                    None,
                    "import pipeline_kit.cli.main",
                    cli_runs([py, "-c", "import pipeline_kit.cli.main"], root, env, repeat),
                    None,
                )
            )
            rows.append(
                Row(
                    None,
                    "import cli.main+manage+render+actions",
                    cli_runs([py, "-c", HEAVY_IMPORTS], root, env, repeat),
                    None,
                    "what a state command imports",
                )
            )
            rows.append(
                Row(
                    None,
                    "pipeline-kit --help",
                    cli_runs([*cli, "--help"], root, env, repeat),
                    median_inproc(inproc_help, repeat),
                )
            )
            prepared = []
            for n in sizes:
                size_rows, ready = bench_size(n, root, repeat, cli)
                rows.extend(size_rows)
                prepared.append(ready)
            print("  promoting (sizes interleaved)", flush=True)
            rows.extend(bench_promotes(prepared, repeat, cli))
            rows.sort(key=lambda r: -1 if r.size is None else r.size)  # stable: keeps order
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print()
    print_table(rows)
    print_targets(rows, sizes)
    print(f"\ntotal {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
