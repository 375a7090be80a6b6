"""What the reports of a promotion cost: JUnit files, and GitHub feedback on top of them.

``pipeline-kit promote webapp 1.K.0 --to qa`` as a subprocess, wall clock, in three variants:

1. ``plain``: no GitHub variable, no ``--junit-dir``;
2. ``junit``: ``--junit-dir DIR``;
3. ``junit+github``: ``--junit-dir DIR`` with GitHub feedback on (``GITHUB_TOKEN``,
   ``GITHUB_REPOSITORY``, ``GITHUB_API_URL``, ``GITHUB_SHA``, ``GITHUB_RUN_ID``,
   ``GITHUB_STEP_SUMMARY`` and ``GITHUB_OUTPUT``), against the GitHub contract server of
   tests/support/github_server.py, in a thread of this process on 127.0.0.1 (no network
   latency: the figure is pipeline-kit's own cost plus the server's validation).

One temp project: a git repository with a commit and tag ``v1.K.0`` per version (all made
before timing), ``pipeline-kit.toml`` with the three stages prod, qa, dev and runtime none,
the state in ``PIPELINE_KIT_DB=sqlite:///…/state.db``; ``init``, then ``service add webapp
--image example/webapp --stacks 2 --version 1.0.0``. The variants are interleaved round-robin
(each first in turn), after one untimed promotion of each; every promotion has a new version.
The CLI inherits no ``GITHUB_*``, ``GH_TOKEN`` or ``PIPELINE_KIT_*`` variable of the caller.

It prints, per variant: median, min and max seconds, the GitHub requests per promotion, and
the median of the paired (same round) extra time over plain. It asserts nothing about time; it
exits 1 when a promote fails or warns, when plain or junit reach the server, or when the
server recorded a contract violation.

    .venv/bin/python -m benchmarks.feedback --repeat 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git

from benchmarks.timing import BenchError, cli_command, fmt, settle
from tests.support.github_server import GitHubContractServer

VARIANTS = ("plain", "junit", "junit+github")
CONFIG_TEXT = 'stages = ["prod", "qa", "dev"]\nruntime = "none"\n'  # no [[hosts]]


def base_env(db: Path) -> dict[str, str]:
    """The caller's environment without GitHub or pipeline-kit variables; our database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "PIPELINE_KIT_")) and k != "GH_TOKEN"
    }
    env["PIPELINE_KIT_DB"] = f"sqlite:///{db}"
    env.setdefault("USER", "bench")
    return env


def make_repo(folder: Path, versions: list[str]) -> str:
    """A repository with one commit and tag ``v<version>`` per version; the last commit."""
    repo = git.Repo.init(folder)
    actor = git.Actor("bench", "bench@example.invalid")
    (folder / "pipeline-kit.toml").write_text(CONFIG_TEXT)
    repo.index.add(["pipeline-kit.toml"])
    for version in versions:
        (folder / "VERSION").write_text(version + "\n")
        repo.index.add(["VERSION"])
        repo.index.commit(f"release {version}", author=actor, committer=actor)
        repo.create_tag(f"v{version}")
    head = repo.head.commit.hexsha
    repo.close()
    return head


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str]:
    """Wall-clock seconds, exit code and stderr of one subprocess (stdout discarded)."""
    start = time.perf_counter()
    devnull, pipe = subprocess.DEVNULL, subprocess.PIPE
    proc = subprocess.run(
        argv, cwd=cwd, env=env, stdout=devnull, stderr=pipe, text=True, check=False
    )
    return time.perf_counter() - start, proc.returncode, proc.stderr


def bench(repeat: int) -> list[str]:
    """Run the rounds and print the table; the problems found (empty when all went well)."""
    cli = cli_command()
    versions = [f"1.{k}.0" for k in range(3 * (repeat + 1) + 1)]  # 1.0.0, then one per promote
    problems: list[str] = []
    server = GitHubContractServer()
    with server, tempfile.TemporaryDirectory(prefix="pk-feedback-") as tmp:
        root = Path(tmp)
        project = root / "project"
        project.mkdir()
        sha = make_repo(project, versions)
        plain = base_env(root / "state.db")
        add = f"service add webapp --image example/webapp --stacks 2 --version {versions[0]}"
        for argv in (["init"], add.split()):
            _, code, err = run([*cli, *argv], project, plain)
            if code != 0:
                raise BenchError(f"pipeline-kit {argv[0]} exited {code}: {err.strip()[:2000]}")
        junit = ["--junit-dir", str(root / "junit")]
        summary, outputs = root / "summary.md", root / "outputs.txt"
        github = {
            **plain,
            "GITHUB_TOKEN": server.expected_token,
            "GITHUB_REPOSITORY": server.repository,
            "GITHUB_API_URL": server.url,
            "GITHUB_SHA": sha,
            "GITHUB_RUN_ID": "1",
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(outputs),
        }
        setups = {"plain": ([], plain), "junit": (junit, plain), "junit+github": (junit, github)}
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        requests: dict[str, list[int]] = {v: [] for v in VARIANTS}
        pending = iter(versions[1:])
        settle()
        print(f"cli: {' '.join(cli)}; repeat {repeat}; GitHub contract server at {server.url}")
        for k in range(repeat + 1):  # round 0 warms up, untimed
            for variant in VARIANTS[k % 3 :] + VARIANTS[: k % 3]:
                options, env = setups[variant]
                for path in (summary, outputs):
                    path.write_text("")
                version, before = next(pending), len(server.requests)
                argv = [*cli, "promote", "webapp", version, "--to", "qa", *options]
                seconds, code, err = run(argv, project, env)
                warnings = [line for line in err.splitlines() if line.startswith("warning:")]
                if code != 0:
                    problems.append(
                        f"{variant} promote {version} exited {code}: {err.strip()[:500]}"
                    )
                elif warnings:
                    problems.append(f"{variant} promote {version}: {warnings[0]}")
                if k > 0:
                    times[variant].append(seconds)
                    requests[variant].append(len(server.requests) - before)
            if k > 0:
                done = ", ".join(f"{v} {fmt(times[v][-1])} s" for v in VARIANTS)
                print(f"  round {k}/{repeat}: {done}", flush=True)
    report(times, requests)
    for variant in ("plain", "junit"):
        if any(requests[variant]):
            problems.append(f"{variant} sent {sum(requests[variant])} request(s) to GitHub")
    problems += [f"contract violation: {v}" for v in server.violations]
    return problems


def report(times: dict[str, list[float]], requests: dict[str, list[int]]) -> None:
    header = ("variant", "median s", "min s", "max s", "GitHub req/promote", "extra vs plain")
    rows = []
    for variant in VARIANTS:
        runs, counts = times[variant], requests[variant]
        low, high = min(counts), max(counts)
        extra = "-"
        if variant != "plain":
            deltas = [a - b for a, b in zip(runs, times["plain"], strict=True)]
            extra = f"{statistics.median(deltas):+.3f}"
        spread = (fmt(statistics.median(runs)), fmt(min(runs)), fmt(max(runs)))
        rows.append((variant, *spread, str(low) if low == high else f"{low}-{high}", extra))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    print()
    for cells in (header, tuple("-" * w for w in widths), *rows):
        pairs = enumerate(zip(cells, widths, strict=True))
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs).rstrip())
    print("(extra vs plain: median over rounds of the same round's difference)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeat", type=int, default=10, help="timed promotions per variant; median reported"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    began = time.perf_counter()
    try:
        problems = bench(args.repeat)
    except (BenchError, OSError, git.GitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if problems:
        print(f"error: {len(problems)} problem(s); the first: {problems[0]}", file=sys.stderr)
        for problem in problems[1:10]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    total = time.perf_counter() - began
    print(f"\nevery promote exited 0; no contract violation; total {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
