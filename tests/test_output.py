"""Output that CI logs can read: whole values in piped tables, progress under any TERM, and
a stage summary that says what a command did (a build and push is not a promotion)."""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import struct
import subprocess
import sys
import termios
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pipeline_kit.cli import render, shapes
from pipeline_kit.cli.progress import make_progress
from pipeline_kit.model import actions
from pipeline_kit.model.items import Container, Edge, Endpoint, Service, Stack, State, Tree
from pipeline_kit.model.policy import Policy
from pipeline_kit.report.results import Report, Result, Status
from pipeline_kit.report.summary import markdown, outputs, rows, title, write_runner_files
from pipeline_kit.runtime.build import ProgressEvent
from tests.conftest import CLI
from tests.model_helpers import make_ctx

SERVICE = "payments-reconciliation-gateway-for-the-central-eu-region-01"
CHILD = "ledger-consistency-checker-for-the-payments-reconciliation-02"
ENDPOINT = "public-entry-point-of-the-payments-reconciliation-gateway"
IMAGE = "registry.example.internal:5000/team/very-long-image-name"
VERSION = "1.2.3-rc.1+build.5"
NEXT = "1.2.4-rc.2+build.17"
REFERENCE = f"{IMAGE}:{VERSION}"
HOST = "docker-engine-on-a-build-agent-with-a-long-name.ci.example.internal"
ADDRESS = "build-agent-with-a-long-hostname.ci.example.internal:49153"
ACTOR = "jenkins-release-automation@build-farm.example.internal"
CONTAINER = "4f1c2b9a8e7d6c5b4a3928171605f4e3"
STAGES = ("prod", "qa", "dev")
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PIPELINE_KIT = Path(sys.executable).with_name("pipeline-kit")
# Variables that change how rich sizes or colours its output; each test sets its own.
CONSOLE_ENV = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """What is printed does not depend on the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'state.db'}"


def assert_whole(text: str, *values: str) -> None:
    """Every value on one line of ``text``, and nothing cut (``…``)."""
    assert "…" not in text, text
    lines = text.splitlines()
    for value in values:
        assert any(value in line for line in lines), f"{value!r} not whole in:\n{text}"


def long_state() -> State:
    containers = tuple(
        Container(f"{CONTAINER}{pos}", VERSION, T0, None, ADDRESS) for pos in range(len(STAGES))
    )
    service = Service(SERVICE, IMAGE, (Stack(0, HOST, containers), Stack(1, HOST, containers)))
    return State(
        services={SERVICE: service},
        endpoints={ENDPOINT: Endpoint(ENDPOINT, SERVICE, 8080, 0)},
        trees={(SERVICE, 0): Tree(SERVICE, 0, (Edge(SERVICE, CHILD, 0),))},
    )


def history_entry() -> dict[str, Any]:
    after = {stage: [VERSION, VERSION] for stage in STAGES}
    return {
        "id": 7,
        "at": T0.isoformat(),
        "actor": ACTOR,
        "action": "promote",
        "args": {"service": SERVICE, "version": VERSION, "to": "prod", "image": IMAGE},
        "changes": {SERVICE: {"after": after}},
    }


# -- tables, rendered into a captured (not a terminal) stdout -----------------------------------


def test_state_tables_in_a_pipe_show_every_value_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    state, policy = long_state(), Policy(STAGES)
    services = list(state.services.values())
    render.services_table(services, policy)
    render.stacks_table(shapes.stacks_json(services, policy))
    render.containers_table(services, policy)
    render.endpoints_table(shapes.endpoints_json(state, policy, [ENDPOINT]))
    render.history_table([history_entry()])
    out = capsys.readouterr().out
    assert_whole(out, SERVICE, IMAGE, HOST, ADDRESS, f"{CONTAINER}2", ENDPOINT, ACTOR)
    assert_whole(out, f"prod={VERSION} qa={VERSION} dev={VERSION}")  # stacks
    assert_whole(out, f"{SERVICE} → {CHILD}@prod", f"{VERSION} 100%")  # endpoints
    assert_whole(out, f"image={IMAGE} service={SERVICE} to=prod version={VERSION}")  # history
    assert_whole(out, "2026-01-02 03:04:05", "2026-01-02T03:04:05")  # since, when
    assert "┏" in out  # still a table


def test_a_plan_in_a_pipe_shows_every_value_whole(capsys: pytest.CaptureFixture[str]) -> None:
    policy = Policy(STAGES)
    plan = actions.promote(long_state(), make_ctx(policy), SERVICE, "prod", NEXT)
    render.plan(plan, policy, applied=False)
    out = capsys.readouterr().out
    assert_whole(out, f"plan: promote service={SERVICE}", f"{VERSION} → {NEXT}")
    assert_whole(out, f"start {SERVICE}/1 {NEXT} at dev")


# -- the CLI, piped and on a terminal, under TERM=dumb ----------------------------------------


def console_env(term: str, columns: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONSOLE_ENV}
    env["TERM"] = term
    if columns is not None:
        env["COLUMNS"] = columns
    return env


@pytest.fixture
def long_names(project: Path, cli: CLI) -> Path:
    """A service, an image and an endpoint with long names, and their history."""
    assert cli("init").code == 0
    added = cli("service", "add", SERVICE, "--image", IMAGE, "--stacks", "2", "--version", VERSION)
    assert added.code == 0, added.err
    endpoint = cli("endpoint", "add", ENDPOINT, "--service", SERVICE, "--port", "8080",
                   "--stage", "prod")  # fmt: skip
    assert endpoint.code == 0, endpoint.err
    return project


SHOWN = {
    "services": (SERVICE, IMAGE, VERSION),
    "containers": (SERVICE, VERSION, "local"),
    "stacks": (SERVICE, f"prod={VERSION} qa={VERSION} dev={VERSION}"),
    "endpoints": (ENDPOINT, SERVICE, f"{VERSION} 100%"),
    "history": (f"image={IMAGE} name={SERVICE} stacks=2", f"port=8080 service={SERVICE}"),
}


@pytest.mark.parametrize("columns", [None, "80"])
@pytest.mark.parametrize("what", sorted(SHOWN))
def test_show_piped_under_term_dumb_prints_values_whole(
    long_names: Path, what: str, columns: str | None
) -> None:
    done = subprocess.run(
        [str(PIPELINE_KIT), "show", what],
        capture_output=True,
        text=True,
        env=console_env("dumb", columns),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert_whole(done.stdout, *SHOWN[what])
    assert "\x1b[" not in done.stdout  # no colour or cursor codes in a log


def on_a_terminal(args: list[str], env: dict[str, str], columns: int) -> str:
    """Run pipeline-kit with stdout and stderr on a pseudo-terminal ``columns`` wide."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    with subprocess.Popen(
        [str(PIPELINE_KIT), *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    ) as process:
        os.close(slave)
        chunks = []
        while select.select([master], [], [], 120)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal is closed: the process has exited
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        assert process.wait() == 0, b"".join(chunks)
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r", "")


def column(table: str, index: int) -> str:
    """The text of one column of a table's body, folded lines joined."""
    body = table.split("┡", 1)[1].split("└", 1)[0]
    return "".join(
        line.split("│")[index + 1].strip() for line in body.splitlines() if line.startswith("│")
    )


@pytest.mark.parametrize("term", ["dumb", "xterm-256color"])
def test_a_terminal_keeps_the_table_and_folds_long_values(long_names: Path, term: str) -> None:
    out = on_a_terminal(["show", "services"], console_env(term, "80"), 80)
    table = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and max(len(line) for line in table) <= 80  # the table fits the terminal
    body = out.split("┡", 1)[1]
    assert "…" not in body  # values fold onto more lines; only a header may be cut
    assert column(out, 0) == SERVICE
    assert column(out, 1) == IMAGE


# -- progress ---------------------------------------------------------------------------------

LONG_STEP = (
    "Step 14/17 : HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 "
    'CMD wget -q -O /dev/null "http://127.0.0.1:${PORT:-8080}/health" || exit 1'
)
EVENTS = [
    ProgressEvent("build", "Step 1/17 : FROM scratch", None, 1, 17),
    ProgressEvent("build", LONG_STEP, None, 14, 17),
    ProgressEvent("push", "The push refers to repository [127.0.0.1:5000/webapp]"),
    ProgressEvent("push", "Preparing", "abc123"),
    ProgressEvent("push", "Pushing", "abc123", 2_000_000, 4_000_000),
    ProgressEvent("push", "Pushed", "abc123"),
    ProgressEvent("push", "Layer already exists", "def456"),
]


def shown(console: Console) -> None:
    with make_progress(console) as progress:
        for event in EVENTS:
            progress(event)


def test_progress_on_a_dumb_terminal_is_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    out = io.StringIO()
    shown(Console(file=out, force_terminal=True))
    lines = out.getvalue().splitlines()
    assert f"build: {LONG_STEP}" in lines  # whole
    assert "push: layer abc123 pushed" in lines
    assert "push: layer def456 already exists" in lines
    assert "\x1b[" not in out.getvalue()  # a dumb terminal cannot move the cursor


@pytest.mark.parametrize("term", ["dumb", "xterm-256color", ""])
def test_progress_bars_on_an_80_column_terminal_keep_bar_and_amount(
    monkeypatch: pytest.MonkeyPatch, term: str
) -> None:
    monkeypatch.setenv("TERM", term)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, force_interactive=True, width=80, height=25)
    shown(console)
    text = ANSI.sub("", out.getvalue())
    # The step in full above the bars (wrapped at spaces to the terminal's width).
    assert f"build: {LONG_STEP}" in " ".join(text.split())
    final = text.rsplit("\n", 4)[-4:]  # the bars as they end: build, two layers, blank
    pushed = next(line for line in final if "abc123" in line)
    assert "push abc123 pushed" in pushed and "━" in pushed and "4.0 MB/4.0 MB" in pushed
    assert max(len(line) for line in text.splitlines()) <= 80


# -- a build and push only: no promotion claimed ----------------------------------------------


def image_report(push: Status = "passed") -> Report:
    steps = (
        Result("dev", "build", REFERENCE, "passed", "sha256:" + "1" * 64, 12.5),
        Result("dev", "push", REFERENCE, push, "sha256:" + "2" * 64, 3.25),
    )
    return Report("release", STAGES, steps, SERVICE, VERSION, "a" * 40, "dev")


def test_a_release_that_did_not_promote_says_build_and_push(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = image_report()
    render.stage_table(report)
    out = capsys.readouterr().out
    heading = f"pipeline-kit release {SERVICE} {VERSION} (build, push; no promotion)"
    assert_whole(out, f"{heading}: passed", "built, pushed", "15.75")
    assert "→" not in out and "dev" not in out
    assert "passed" not in out.split("┡", 1)[1]  # no stage verdict in the row
    (row,) = rows(report)
    assert (row.stage, row.version, row.checks, row.passed, row.verdict) == (
        "",
        VERSION,
        2,
        2,
        "built, pushed",
    )
    text = markdown(report)
    assert text.startswith(f"### ✅ {heading}\n")
    assert f"| – | {VERSION} | 2 | 2 | 0 | ✅ built, pushed |" in text
    assert "Build and push only: no stage was changed." in text
    assert "dev" not in text and "Nothing was changed" not in text
    assert outputs(report) == {"result": "passed", "service": SERVICE, "version": VERSION}


def test_an_image_already_in_the_registry_says_so() -> None:
    report = image_report(push="skipped")
    (row,) = rows(report)
    assert row.verdict == "built, already in the registry"
    assert "✅ built, already in the registry |" in markdown(report)


def test_a_release_that_promoted_still_names_its_stage(capsys: pytest.CaptureFixture[str]) -> None:
    steps = image_report().results
    applied = Result("dev", "apply", f"promote {SERVICE}", "passed", "", 1.0)
    report = Report("release", STAGES, (*steps, applied), SERVICE, VERSION, "a" * 40, "dev",
                    True, None, {"dev": VERSION})  # fmt: skip
    assert title(report) == f"pipeline-kit release {SERVICE} {VERSION} → dev"
    render.stage_table(report)
    out = capsys.readouterr().out
    assert_whole(out, f"{title(report)}: passed")
    assert re.search(rf"│ dev +│ {re.escape(VERSION)} +│ +3 │ +3 │ +0 │ .* │ passed +│", out)
    assert outputs(report)["stage"] == "dev"
    assert "| dev | " in markdown(report) and "Applied." in markdown(report)


def test_the_job_summary_and_the_console_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = image_report()
    summary = tmp_path / "summary.md"
    write_runner_files(report, {"GITHUB_STEP_SUMMARY": str(summary)})
    render.stage_table(report)
    console_title = capsys.readouterr().out.splitlines()[0].strip()
    assert console_title == f"{title(report)}: passed"
    assert summary.read_text().startswith(f"### ✅ {title(report)}\n")
