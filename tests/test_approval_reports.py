"""A passed approval gate says how many approvals it has and from whom they may come: in
the plan, the JUnit file, the job summary and ``check`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml
from junitparser import TestCase as Case

from pipeline_kit.report.results import Report, Result
from pipeline_kit.report.summary import markdown
from tests.conftest import CLI, add_webapp

POLICY = """
[gates.prod]
approval = true
approvals = 2
approvers = ["alice", "bob", "release-managers"]

[groups]
release-managers = ["carol", "dave"]
"""
PASSED = (
    "webapp v0.2.0→prod: 2 of 2 approvals (alice, dave); "
    "approvers: alice, bob, release-managers (carol, dave)"
)


@pytest.fixture
def waiting(project: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch) -> Path:
    """webapp with v0.2.0 in qa and dev, waiting for prod's two approvals; no CI around."""
    for key in ("JENKINS_URL", "JENKINS_HOME", "PIPELINE_KIT_APPROVER", "GITHUB_ACTIONS"):
        monkeypatch.delenv(key, raising=False)
    assert add_webapp(cli, "v0.1.0").code == 0
    assert cli("promote", "webapp", "v0.2.0", "--to", "qa").code == 0
    assert cli("promote", "webapp", "--to", "qa").code == 0
    path = project / "pipeline-kit.toml"
    path.write_text(path.read_text() + POLICY)
    return project


def _cases(path: Path) -> dict[str, Case]:
    """The testcases of a stage's JUnit file, parsed with junitparser, by name."""
    (suite,) = list(JUnitXml.fromfile(str(path)))
    return {case.name: case for case in suite}


def _failed(case: Case) -> bool:
    return any(isinstance(r, Failure) for r in case.result)


def test_a_passed_approval_gate_is_in_the_plan_junit_and_summary(
    waiting: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    for person in ("alice", "dave"):
        assert cli("approve", "webapp", "v0.2.0", "--stage", "prod", "--by", person).code == 0
    dry = cli("promote", "webapp", "--to", "prod", "--dry-run")
    assert dry.code == 0, dry.err
    assert f"  approval {PASSED}" in dry.out.splitlines()
    summary = waiting / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = cli("promote", "webapp", "--to", "prod", "--junit-dir", "reports")
    assert result.code == 0, result.err
    assert f"  approval {PASSED}" in result.out.splitlines()
    case = _cases(waiting / "reports" / "pipeline-kit-prod.xml")["gate approval"]
    assert not _failed(case) and case.system_out == PASSED
    text = summary.read_text()
    assert "Approvals:" in text and f"- ✅ **prod** {PASSED}" in text


def test_a_refused_gate_shows_no_passed_line_and_other_stages_none(waiting: Path, cli: CLI) -> None:
    assert cli("approve", "webapp", "v0.2.0", "--stage", "prod", "--by", "alice").code == 0
    refused = cli("promote", "webapp", "--to", "prod", "--junit-dir", "reports")
    assert refused.code == 1
    assert "approval webapp v0.2.0→prod: 1 of" not in refused.out
    case = _cases(waiting / "reports" / "pipeline-kit-prod.xml")["gate approval"]
    assert _failed(case) and case.system_out is None
    # A stage without an approval gate says nothing about approvals.
    qa = cli("promote", "webapp", "v0.3.0", "--to", "qa", "--junit-dir", "qa-reports")
    assert qa.code == 0, qa.err
    assert "  approval " not in qa.out
    case = _cases(waiting / "qa-reports" / "pipeline-kit-qa.xml")["gate approval"]
    assert case.system_out is None


def test_check_dry_run_says_who_approved_the_entry_stage(
    waiting: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = waiting / "pipeline-kit.toml"
    path.write_text(
        path.read_text() + '\n[gates.dev]\napproval = true\n\n[release]\nservice = "webapp"\n'
    )
    refused = cli("check", "--version", "0.3.0")
    assert refused.code == 1
    assert "dev needs an approval, has 0" in refused.out
    assert cli("approve", "webapp", "0.3.0", "--stage", "dev", "--by", "bob").code == 0
    summary = waiting / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = cli("check", "--version", "0.3.0", "--junit-dir", "reports")
    assert result.code == 0, result.out + result.err
    line = "webapp 0.3.0→dev: 1 of 1 approval (bob); approvers: anyone"
    assert f"  ✓ [approval] dev: {line}" in result.out.splitlines()
    case = _cases(waiting / "reports" / "pipeline-kit-dev.xml")["promote gate approval"]
    assert not _failed(case) and case.system_out == line
    assert f"- ✅ **dev** {line}" in summary.read_text()
    shown = json.loads(cli("check", "--version", "0.3.0", "--json").out)
    assert shown["approvals"] == [{"stage": "dev", "message": line}]


def test_the_check_run_markdown_lists_passed_approvals_only() -> None:
    results = (
        Result("prod", "gate", "approval", "passed", "webapp 1.2.0→prod: 2 of 2 approvals"),
        Result("prod", "gate", "approval", "passed"),
        Result("qa", "gate", "soak", "passed", "not an approval"),
    )
    text = markdown(Report("promote", ("prod", "qa"), results, "webapp", "1.2.0"))
    listed = [line for line in text.splitlines() if line.startswith("- ✅")]
    assert listed == ["- ✅ **prod** webapp 1.2.0→prod: 2 of 2 approvals"]
