"""pipeline-kit against a plain sequential ``docker run`` script, on a real Docker engine.

The reference: redeploying 12 containers (2 services x 2 stacks x 3 stages) took 12 s in a
published thesis. On this machine, side by side, wall clock, median of ``--repeat`` runs:

* ``pipeline-kit deploy`` of those 12 containers from nothing. The state (services ``web``
  and ``api``, ``--image webapp --stacks 2 --version 1.0.0``) is written by ``service add``
  with ``PIPELINE_KIT_RUNTIME=none``, so no container runs before the timed ``deploy``,
  which starts all 12 and waits until each answers ``/health``.
* The baseline: a bash script of 12 ``docker run -d --network host -e PORT=.. -e
  PIPELINE_KIT_VERSION=1.0.0 127.0.0.1:5000/webapp:1.0.0``, one after the other, then a
  wait until each answers ``/health`` (polled with urllib, as a script would with curl).
* ``pipeline-kit promote web 1.1.0 --to prod`` on top of that deploy (2 new containers
  started and health-checked, the state committed, 2 removed), against a bash script of 2
  ``docker run`` of the new version, the same wait, and 2 ``docker rm -f``.
* In-process: the same two commands as ``pipeline_kit.cli.main.main([...])`` in a fresh
  interpreter that first imports every module the command imports, timed from inside
  (benchmarks/inproc.py): the command's own work. CLI minus in-process is the fixed cost
  of a CLI run (interpreter start-up, imports, exit).

Every repetition starts from nothing: a new state database, and every container of the
previous run removed. The sides alternate which runs first; one untimed round of each warms
the caches. The engine, the images and the baseline scripts are benchmarks/docker_bench.py's.

It prints figures, ratios and the targets to compare them with; it asserts nothing about
time. It exits 1 with one line when a command fails.

    .venv/bin/python -m benchmarks.promote_docker [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from typing import Any

from benchmarks.docker_bench import (
    BASE_LABEL,
    CONTAINERS,
    FAILURES,
    NEW,
    OLD,
    PK_LABEL,
    PROMOTED,
    STACKS,
    Baseline,
    Project,
    expect_running,
    load,
    remove_all,
    scene,
)
from benchmarks.timing import (
    Inproc,
    Row,
    fmt,
    print_table,
    run_guarded,
    run_inproc,
    run_timed,
    settle,
)

OPS = ("deploy", "promote")
REFERENCE_S = 12.0  # the thesis: redeploying 12 containers
TARGET_DEPLOY_S = 3.0
TARGET_RATIO = {"deploy": 0.8, "promote": 1.0}  # pipeline-kit / the sequential script
PROMOTE_ARGS = ["promote", PROMOTED, NEW, "--to", "prod"]


# -- the rounds --------------------------------------------------------------------------------


def pipeline_kit_round(client: Any, project: Project) -> tuple[float, float]:
    """(deploy s, promote s) of the pipeline-kit CLI, from nothing."""
    env = project.fresh_state()
    remove_all(client)
    settle()
    deploy = run_timed([*project.cli, "deploy"], project.folder, env)
    expect_running(client, PK_LABEL, 0, "pipeline-kit deploy")
    promote = run_timed([*project.cli, *PROMOTE_ARGS], project.folder, env)
    expect_running(client, PK_LABEL, STACKS, "pipeline-kit promote")
    remove_all(client)
    return deploy, promote


def in_process_round(client: Any, project: Project, record: bool = False) -> tuple[Inproc, Inproc]:
    """The same deploy and promote as ``main()`` calls timed from inside fresh interpreters
    (no start-up, no imports); ``record`` lists the modules to import first instead."""
    env = project.fresh_state()
    remove_all(client)
    settle()
    deploy = run_inproc(["deploy"], project.folder, env, project.modules, record)
    expect_running(client, PK_LABEL, 0, "in-process deploy")
    promote = run_inproc(PROMOTE_ARGS, project.folder, env, project.modules, record)
    expect_running(client, PK_LABEL, STACKS, "in-process promote")
    remove_all(client)
    return deploy, promote


def baseline_round(client: Any, baseline: Baseline) -> tuple[float, float]:
    """(deploy s, promote s) of the bash scripts, from nothing."""
    deploy_sh, promote_sh = baseline.scripts()
    remove_all(client)
    settle()
    env = dict(os.environ)
    deploy = run_timed(["bash", str(deploy_sh)], baseline.folder, env)
    expect_running(client, BASE_LABEL, 0, "deploy.sh")
    promote = run_timed(["bash", str(promote_sh)], baseline.folder, env)
    expect_running(client, BASE_LABEL, STACKS, "promote.sh")
    remove_all(client)
    return deploy, promote


Times = dict[str, list[float]]


def rounds(client: Any, project: Project, baseline: Baseline, repeat: int) -> Times:
    """``repeat`` rounds of each side after an untimed one: ``"SIDE OP"`` → seconds, where
    SIDE is pk, base, inproc (the ``main()`` call) or imports (the in-process imports)."""
    pipeline_kit_round(client, project)  # warm-up, untimed
    baseline_round(client, baseline)
    in_process_round(client, project, record=True)
    print("  warm-up round done", flush=True)
    sides = ("pk", "base", "inproc")
    times: Times = {f"{s} {op}": [] for s in (*sides, "imports") for op in OPS}
    for k in range(repeat):
        for side in sides[k % 3 :] + sides[: k % 3]:  # each side first in turn
            if side == "inproc":
                for op, run in zip(OPS, in_process_round(client, project), strict=True):
                    times[f"inproc {op}"].append(run.main)
                    times[f"imports {op}"].append(run.imports)
                continue
            done = (
                pipeline_kit_round(client, project)
                if side == "pk"
                else baseline_round(client, baseline)
            )
            for op, seconds in zip(OPS, done, strict=True):
                times[f"{side} {op}"].append(seconds)
        print(
            f"  run {k + 1}/{repeat}: "
            + "; ".join(
                f"{op} pk {fmt(times[f'pk {op}'][-1])} (in-process "
                f"{fmt(times[f'inproc {op}'][-1])}) / script {fmt(times[f'base {op}'][-1])} s"
                for op in OPS
            ),
            flush=True,
        )
    return times


def rows(times: Times) -> list[Row]:
    def imports(op: str) -> str:
        return f"in-process imports {fmt(median(times[f'imports {op}']))} s"

    return [
        Row(
            CONTAINERS,
            "pipeline-kit deploy",
            times["pk deploy"],
            median(times["inproc deploy"]),
            f"from nothing; {imports('deploy')}",
        ),
        Row(
            CONTAINERS,
            "bash: 12 x docker run + wait /health",
            times["base deploy"],
            None,
            "sequential",
        ),
        Row(
            STACKS,
            f"pipeline-kit {' '.join(PROMOTE_ARGS)}",
            times["pk promote"],
            median(times["inproc promote"]),
            f"2 started, 2 removed; {imports('promote')}",
        ),
        Row(
            STACKS,
            "bash: 2 x docker run + wait + 2 x rm -f",
            times["base promote"],
            None,
            "sequential",
        ),
    ]


# -- the floors (where the time of one CLI run goes) -------------------------------------------


def floors(project: Project, baseline: Baseline, client: Any, repeat: int) -> list[Row]:
    """Fixed costs: interpreter, CLI start-up, a deploy with nothing to do, one docker run."""
    env = project.fresh_state()
    remove_all(client)
    run_timed([*project.cli, "deploy"], project.folder, env)
    series = [
        ("python -c pass", [sys.executable, "-c", "pass"], ""),
        ("pipeline-kit --help", [*project.cli, "--help"], "CLI start-up"),
        (
            "pipeline-kit deploy (nothing to do)",
            [*project.cli, "deploy"],
            f"{CONTAINERS} running: ping, list, {CONTAINERS} health probes",
        ),
        ("docker version", [baseline.docker_cli, "-H", baseline.engine, "version"], "CLI floor"),
    ]
    out = []
    for label, argv, note in series:
        run_timed(argv, project.folder, env)
        runs = [run_timed(argv, project.folder, env) for _ in range(repeat)]
        out.append(Row(None, label, runs, None, note))
    remove_all(client)
    port = baseline.ports(1)[0]
    one = baseline.folder / "one.sh"
    one.write_text("#!/bin/bash\nset -euo pipefail\n" + baseline.run_line("pkb-one", port, OLD))
    runs = []
    for _ in range(repeat + 1):
        runs.append(run_timed(["bash", str(one)], baseline.folder, dict(os.environ)))
        remove_all(client)
    out.append(Row(1, "bash: one docker run -d", runs[1:], None, "no health wait"))
    return out


# -- report ------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(times: Times, repeat: int) -> None:
    pk = {op: median(times[f"pk {op}"]) for op in OPS}
    base = {op: median(times[f"base {op}"]) for op in OPS}
    ratio = {op: pk[op] / base[op] for op in OPS}
    print(f"\ncomparison (median of {repeat}; ratio = pipeline-kit / sequential script):")
    print(
        f"  deploy {CONTAINERS} containers from nothing: pipeline-kit {fmt(pk['deploy'])} s, "
        f"script {fmt(base['deploy'])} s, ratio {ratio['deploy']:.2f}"
    )
    print(
        f"  promote {PROMOTED} ({STACKS} stacks):             pipeline-kit "
        f"{fmt(pk['promote'])} s, script {fmt(base['promote'])} s, ratio {ratio['promote']:.2f}"
    )
    print("\ntargets (for comparison; nothing is asserted):")
    print(
        f"  {CONTAINERS}-container deploy < {TARGET_DEPLOY_S:g} s: {fmt(pk['deploy'])} s "
        f"[{verdict(pk['deploy'] < TARGET_DEPLOY_S)}]"
    )
    for op in OPS:
        print(
            f"  pipeline-kit {op} <= {TARGET_RATIO[op]:g}x the sequential script: "
            f"{ratio[op]:.2f}x [{verdict(ratio[op] <= TARGET_RATIO[op])}]"
        )
    print(
        f"  reference (published thesis): redeploying {CONTAINERS} containers took "
        f"{REFERENCE_S:g} s; pipeline-kit here {fmt(pk['deploy'])} s = "
        f"{pk['deploy'] / REFERENCE_S:.2f}x, script {fmt(base['deploy'])} s = "
        f"{base['deploy'] / REFERENCE_S:.2f}x"
    )


# -- main --------------------------------------------------------------------------------------


def bench(repeat: int, breakdown: bool) -> None:
    with scene(repeat) as scenery:
        client, project, baseline = scenery.client, scenery.project, scenery.baseline
        times = rounds(client, project, baseline, repeat)
        table = rows(times)
        if breakdown:
            print("  measuring the fixed costs", flush=True)
            table += floors(project, baseline, client, repeat)
        print(f"\n  load average at the end: {load()}\n")
        print_table(table)
        report(times, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the median is reported"
    )
    parser.add_argument(
        "--no-breakdown",
        action="store_true",
        help="skip the fixed costs (interpreter, CLI start-up, one docker run)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return run_guarded(lambda: bench(args.repeat, not args.no_breakdown), FAILURES)


if __name__ == "__main__":
    sys.exit(main())
