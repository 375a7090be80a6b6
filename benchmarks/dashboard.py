"""The dashboard of a large environment: how long ``pipeline-kit dashboard`` takes and how big
its board page is, beside ``pipeline-kit show services --json`` on the same state.

The state: ``--services`` services (default 1000; 2 stacks of height 4, one endpoint per 10
services with its trees), imported with ``pipeline-kit state import`` into a fresh SQLite
database with a history of ``--entries`` entries (default 10,000: the services' ``service
add``, then promotions into prod, one rollback in ten, spread over the 90 days before
``--now``). Each command runs as a subprocess, as a user runs it: one untimed warm-up run,
then the median and the fastest of ``--repeat`` runs; and in-process (the pages built from
data already read, without writing them) to separate reading from rendering.

It prints figures; it asserts nothing about time.

    .venv/bin/python -m benchmarks.dashboard [--services 1000] [--entries 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.state_file import STACKS, build_document, service_name
from benchmarks.timing import (
    BenchError,
    Row,
    cli_command,
    cli_runs,
    median_inproc,
    print_table,
    run_guarded,
    run_timed,
    settle,
)

NOW = "2026-04-01T00:00:00+00:00"
CONFIG = """\
stages = ["prod", "qa", "dev"]
versions = "non-decreasing"
max_height = 4
runtime = "none"

[gates.prod]
prereleases = false
approval = true
"""


def _move(n: int, at: datetime, name: str, action: str, old: str, new: str) -> dict[str, Any]:
    stages = {"qa": ["v1.1.0"] * STACKS, "dev": ["v1.2.0"] * STACKS}
    return {
        "id": n,
        "at": at.isoformat(timespec="microseconds"),
        "actor": "bench",
        "action": action,
        "args": {"service": name, "to": "prod"} if action == "promote" else {"service": name},
        "changes": {
            name: {
                "before": {"prod": [old] * STACKS, **stages},
                "after": {"prod": [new] * STACKS, **stages},
            }
        },
    }


def document(services: int, entries: int) -> dict[str, Any]:
    """The state of ``services`` services with a history of ``entries`` entries."""
    doc = build_document(services)
    history: list[dict[str, Any]] = doc["history"]
    width = max(4, len(str(services - 1)))
    now = datetime.fromisoformat(NOW)
    extra = max(0, entries - len(history))
    step = timedelta(days=90) / max(1, extra)
    for k in range(extra):
        name = service_name((k * 7919) % services, width)
        at = now - timedelta(days=90) + step * (k + 1)
        if k % 10 == 9:
            history.append(_move(len(history) + 1, at, name, "rollback", "v1.0.1", "v1.0.0"))
        else:
            history.append(_move(len(history) + 1, at, name, "promote", "v1.0.0", "v1.0.1"))
    return doc


def _sizes(folder: Path) -> tuple[int, int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return (folder / "index.html").stat().st_size, sum(p.stat().st_size for p in files), len(files)


def _inproc(project: Path, repeat: int) -> float:
    """Seconds to build every page from the data already read (no database, no disk)."""
    from pipeline_kit import config
    from pipeline_kit.dashboard import site
    from pipeline_kit.pipeline.dashboard import gather, parse_now

    old, url = Path.cwd(), os.environ.get("PIPELINE_KIT_DB")
    os.chdir(project)
    os.environ["PIPELINE_KIT_DB"] = f"sqlite:///{project / 'state.db'}"
    try:
        data = gather(config.load(), parse_now(NOW))
    finally:
        os.chdir(old)
        if url is None:
            os.environ.pop("PIPELINE_KIT_DB", None)
        else:
            os.environ["PIPELINE_KIT_DB"] = url
    if len(data.state.services) < 2:
        raise BenchError("the in-process run read no state")
    return median_inproc(lambda: site(data), repeat)


def measure(services: int, entries: int, repeat: int) -> None:
    cli = cli_command()
    with tempfile.TemporaryDirectory(prefix="pk-bench-dashboard-") as scratch:
        project = Path(scratch)
        (project / "pipeline-kit.toml").write_text(CONFIG)
        state = project / "state.json"
        state.write_text(json.dumps(document(services, entries)))
        env = {**os.environ, "PIPELINE_KIT_DB": f"sqlite:///{project / 'state.db'}"}
        for key in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "PIPELINE_KIT_CONFIG"):
            env.pop(key, None)
        run_timed([*cli, "state", "import", str(state)], project, env)
        settle()
        out = project / "site"
        dashboard = cli_runs(
            [*cli, "dashboard", "--out", str(out), "--now", NOW], project, env, repeat
        )
        baseline = cli_runs([*cli, "show", "services", "--json"], project, env, repeat)
        history = cli_runs(
            [*cli, "show", "history", "--limit", str(entries), "--json"], project, env, repeat
        )
        board, total, files = _sizes(out)
        pages = _inproc(project, repeat)
    print(f"dashboard of {services} services and {entries} history entries (SQLite, {repeat} runs)")
    print_table(
        [
            Row(
                services,
                "pipeline-kit dashboard --out DIR",
                dashboard,
                pages,
                "in-proc: pages only",
            ),
            Row(services, "pipeline-kit show services --json", baseline, None, "baseline"),
            Row(
                services,
                f"pipeline-kit show history --limit {entries} --json",
                history,
                None,
                "baseline",
            ),
        ]
    )
    print(
        f"board page (index.html): {board / 1e6:.3f} MB; "
        f"whole site: {total / 1e6:.3f} MB in {files} files"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.services < 2 or args.entries < args.services or args.repeat < 1:
        raise BenchError("--services >= 2, --entries >= --services and --repeat >= 1")
    return run_guarded(lambda: measure(args.services, args.entries, args.repeat))


if __name__ == "__main__":
    sys.exit(main())
