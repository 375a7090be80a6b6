"""Results as values: JUnit per stage (parsed back), runner files, the stage table, ``check``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite

from pipeline_kit.report.results import Report, Result
from pipeline_kit.report.summary import outputs
from tests.conftest import CLI, add_webapp

APPROVAL_CONFIG = """\
stages = ["prod", "qa", "dev"]
versions = "non-decreasing"

[gates.prod]
approval = true
"""


@pytest.fixture
def webapp(project: Path, cli: CLI) -> Path:
    """Two stacks at 1.0.0 in every stage; prod needs an approval."""
    (project / "pipeline-kit.toml").write_text(APPROVAL_CONFIG)
    result = add_webapp(cli, "1.0.0")
    assert result.code == 0, result.err
    return project


def suites(folder: Path) -> dict[str, TestSuite]:
    """Every pipeline-kit-<stage>.xml in ``folder``, parsed with junitparser, by stage."""
    found = {}
    for path in sorted(folder.glob("pipeline-kit-*.xml")):
        xml = JUnitXml.fromfile(str(path))
        (suite,) = list(xml)
        stage = path.stem.removeprefix("pipeline-kit-")
        found[stage] = suite
    return found


def failures(suite: TestSuite) -> list[str]:
    return [
        r.message or ""
        for case in suite
        for r in case.result
        if isinstance(r, Failure | Error) and not isinstance(r, Skipped)
    ]


def test_promote_writes_one_junit_file_per_stage(webapp: Path, cli: CLI) -> None:
    result = cli("promote", "webapp", "1.1.0", "--to", "qa", "--junit-dir", "reports")
    assert result.code == 0, result.err
    found = suites(webapp / "reports")
    assert set(found) == {"qa", "dev"}
    for stage, suite in found.items():
        assert suite.failures == 0 and suite.errors == 0
        assert suite.tests == len(list(suite)) > 0
        props = {p.name: p.value for p in suite.properties()}
        assert props["service"] == "webapp" and props["stage"] == stage
    assert {p.name: p.value for p in found["dev"].properties()}["version"] == "1.1.0"
    names = [case.name for case in found["qa"]]
    assert "constraint version-order" in names and "gate approval" in names
    assert "constraint stack-height" in names  # service-wide checks sit on the --to stage
    # The console ends with the per-stage table.
    assert "stage" in result.out and "passed" in result.out.splitlines()[-3]


def test_refused_promote_carries_the_violation_in_words(webapp: Path, cli: CLI) -> None:
    result = cli("promote", "webapp", "1.1.0", "--to", "prod", "--junit-dir", "reports")
    assert result.code == 1
    found = suites(webapp / "reports")
    assert set(found) == {"prod", "dev"}
    prod = found["prod"]
    assert prod.failures == 1 and prod.errors == 0
    (message,) = failures(prod)
    assert "prod needs an approval" in message and "webapp 1.0.0→prod" in message
    assert failures(found["dev"]) == []
    assert "failed" in result.out


def test_junit_counts_match_the_report(tmp_path: Path) -> None:
    from pipeline_kit.report import junit

    results = (
        Result("prod", "constraint", "version-order", "passed"),
        Result("prod", "gate", "approval", "failed", "prod needs an approval"),
        Result("prod", "health", "webapp/0 1.0.0", "error", "exited with code 3", 0.5),
        Result("qa", "push", "reg/webapp:1.0.0", "skipped", "already there"),
        Result("#3", "constraint", "stack-height", "failed", 'height 4 <odd> & "quoted"'),
    )
    report = Report("promote", ("prod", "qa", "dev"), results, "webapp", "1.0.0", "a" * 40, "prod")
    paths = junit.write(report, tmp_path / "out")
    assert [p.name for p in paths] == [
        "pipeline-kit-prod.xml",
        "pipeline-kit-qa.xml",
        "pipeline-kit-_3.xml",
    ]
    found = suites(tmp_path / "out")
    prod = found["prod"]
    assert (prod.tests, prod.failures, prod.errors, prod.skipped) == (3, 1, 1, 0)
    assert failures(prod) == ["prod needs an approval", "exited with code 3"]
    assert found["qa"].skipped == 1
    assert failures(found["_3"]) == ['height 4 <odd> & "quoted"']
    props = {p.name: p.value for p in prod.properties()}
    assert props["commit"] == "a" * 40


def test_runner_files(
    webapp: Path, cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert cli("promote", "webapp", "1.1.0", "--to", "qa").code == 0
    assert cli("promote", "webapp", "1.2.0", "--to", "prod").code == 1
    text = summary.read_text()
    assert "✅ pipeline-kit promote webapp 1.1.0 → qa" in text
    assert "❌ pipeline-kit promote webapp 1.2.0 → prod" in text
    assert "| prod | 1.0.0 | 13 | 12 | 1 | ❌ failed |" in text
    assert "Nothing was changed." in text
    lines = output.read_text().splitlines()
    assert lines[:4] == ["result=passed", "service=webapp", "version=1.1.0", "stage=qa"]
    assert "result=failed" in lines[4:]


def test_outputs_use_a_heredoc_for_multiline_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline_kit.report.summary import write_runner_files

    report = Report("check", ("prod",), (), None, None)
    output = tmp_path / "out"
    write_runner_files(report, {"GITHUB_OUTPUT": str(output)}, {"note": "a\nresult=passed"})
    text = output.read_text()
    assert text.startswith("result=passed\nviolations=0\nnote<<ghadelimiter_")
    assert outputs(report) == {"result": "passed", "violations": "0"}


def test_unwritable_junit_dir_is_bad_input(webapp: Path, cli: CLI) -> None:
    (webapp / "file").write_text("")
    result = cli("promote", "webapp", "1.1.0", "--to", "qa", "--junit-dir", "file/sub")
    assert result.code == 2 and "cannot create --junit-dir" in result.err


# -- check ------------------------------------------------------------------------------------

Write = Callable[[str], Path]


@pytest.fixture
def proposed(webapp: Path) -> Write:
    def write(text: str) -> Path:
        path = webapp / "proposed.toml"
        path.write_text(text)
        return path

    return write


def test_check_passes_on_the_current_config(webapp: Path, cli: CLI) -> None:
    result = cli("check", "--junit-dir", "reports")
    assert result.code == 0, result.err
    assert set(suites(webapp / "reports")) == {"prod", "qa", "dev"}


def test_check_reports_every_violation_with_file_and_line(
    webapp: Path, cli: CLI, proposed: Write
) -> None:
    path = proposed(
        'stages = ["prod", "qa"]\n'
        'versions = "increasing"\n'
        "min_stacks = 3\n"
        "\n"
        "[gates.prod]\n"
        "approval = true\n"
    )
    result = cli("check", "--config", str(path), "--json", "--junit-dir", "reports")
    assert result.code == 1
    report = json.loads(result.out)
    found = {(v["constraint"], v["file"], v["line"]) for v in report["violations"]}
    assert ("service", "proposed.toml", 3) in found  # min_stacks raised
    assert ("stack-height", "proposed.toml", 1) in found  # a stage removed
    assert ("version-order", "proposed.toml", 2) in found  # 1.0.0 twice is not increasing
    assert not report["ok"]
    junit = suites(webapp / "reports")
    total = sum(s.failures for s in junit.values())
    assert total == len(report["violations"])


def test_check_new_rule_and_dry_run_version(webapp: Path, cli: CLI, proposed: Write) -> None:
    path = proposed('stages = ["prod", "qa", "dev"]\n\n[release]\nservice = "webapp"\n')
    assert cli("check", "--config", str(path), "--version", "1.1.0").code == 0
    lower = cli("check", "--config", str(path), "--version", "0.9.0", "--json")
    assert lower.code == 1
    (violation,) = json.loads(lower.out)["violations"]
    assert violation["kind"] == "promote constraint"
    assert violation["constraint"] == "version-order"
    assert violation["file"] == "proposed.toml" and violation["line"] is None
    path = proposed('stages = ["prod", "qa", "dev"]\ndistinct_hosts = true\n')
    result = cli("check", "--config", str(path))
    assert result.code == 1
    assert "proposed.toml:2: [distinct-hosts]" in result.out


def test_check_broken_config_is_exit_2_with_file_and_line(
    webapp: Path, cli: CLI, proposed: Write
) -> None:
    path = proposed('stages = ["prod", "qa", "dev"]\n\n[gates.qa]\nsoak = "soon"\n')
    result = cli("check", "--config", str(path))
    assert result.code == 2
    assert f"{path}:4:" in result.err and result.err.count("\n") == 1
    missing = cli("check", "--config", "nowhere.toml")
    assert missing.code == 2 and "no such file" in missing.err
    both = cli("check", "--version", "1.0.0", "--from-git")
    assert both.code == 2


def test_check_from_git(webapp: Path, cli: CLI, proposed: Write) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=webapp, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty",
        "-m", "one")  # fmt: skip
    none = cli("check", "--from-git")
    assert none.code == 2 and "no tag matching v{semver}" in none.err
    git("tag", "v0.5.0")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty",
        "-m", "two")  # fmt: skip
    path = proposed('stages = ["prod", "qa", "dev"]\n\n[release]\nservice = "webapp"\n')
    result = cli("check", "--config", str(path), "--from-git", "--json")
    assert result.code == 1  # v0.5.0 is lower than dev runs
    report = json.loads(result.out)
    assert report["version"] == "0.5.0"
    assert [v["constraint"] for v in report["violations"]] == ["version-order"]
