"""Eight processes promote the same service at once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_kit.model.constraints import check_state
from pipeline_kit.model.policy import Policy
from pipeline_kit.store.database import Store
from tests.conftest import CLI, add_webapp

PROCESSES = 8


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline_kit", *args],
        cwd=cwd,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_eight_processes_promote_one_service(project: Path, cli: CLI, db_url: str) -> None:
    add = add_webapp(cli, "v1.0.0")
    assert add.code == 0, add.err
    # Versions in an order that makes some promotions lower than the top when they run late.
    versions = [f"v1.{minor}.0" for minor in (3, 1, 8, 2, 5, 4, 7, 6)]
    procs = [
        _spawn(["promote", "webapp", version, "--to", "prod"], project) for version in versions
    ]
    results = []
    for version, proc in zip(versions, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        results.append((version, proc.returncode, out, err))
    succeeded = [v for v, code, _, _ in results if code == 0]
    failed = [(v, code, err) for v, code, _, err in results if code != 0]
    assert succeeded, results
    for version, code, err in failed:
        lines = err.strip().splitlines()
        assert code in (1, 3), (version, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert "Traceback" not in err
    history = json.loads(cli("show", "history", "--json").out)
    promoted = [h["args"]["version"] for h in history if h["action"] == "promote"]
    assert sorted(promoted) == sorted(succeeded)
    assert len(promoted) == len(succeeded)
    # versions in the history follow each other: every success saw the one before it
    tops = [h["changes"]["webapp"]["after"]["dev"][0] for h in history if h["action"] == "promote"]
    assert tops == promoted
    store = Store(db_url)
    try:
        with store.read() as session:
            state = session.load_all()
    finally:
        store.dispose()
    assert check_state(state, Policy()) == []
    top = state.services["webapp"].stacks[0].containers[-1].version
    assert top == promoted[-1]


@pytest.mark.slow
def test_lock_wait_is_bounded(project: Path, cli: CLI, db_url: str) -> None:
    """A change that cannot get the lock in time fails with one line and changes nothing."""
    assert cli("init").code == 0
    assert cli("service", "add", "webapp", "--image", "x/webapp", "--version", "v1.0.0").code == 0
    store = Store(db_url, lock_timeout=30)
    before = cli("show", "services", "--json").out
    try:
        from pipeline_kit.store.database import Scope

        with store.write(Scope(services=frozenset({"webapp"}))):
            env = os.environ.copy()
            env["PIPELINE_KIT_LOCK_TIMEOUT"] = "1"
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pipeline_kit",
                    "promote",
                    "webapp",
                    "v1.1.0",
                    "--to",
                    "prod",
                ],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
    finally:
        store.dispose()
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "lock" in lines[0] and "nothing was changed" in lines[0]
    assert cli("show", "services", "--json").out == before
