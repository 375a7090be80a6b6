"""The integration files: the GitHub actions and workflows, the Jenkins shared library, and
the runner emulator (``tests/support/runner.py``) that the end-to-end tests run them with.

The files are checked by the real tools: check-jsonschema with its vendored GitHub schemas,
zizmor offline, Debian's groovy. A missing tool fails the test (it never skips).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.support.runner import RunnerError, run_action, run_job

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = Path(__file__).resolve().parent / "support"
ACTIONS = sorted((ROOT / "actions").glob("*/action.yml"))
WORKFLOWS = sorted((ROOT / "examples" / "github").glob("*.yml"))
JENKINS_VARS = sorted((ROOT / "jenkins" / "vars").glob("*.groovy"))
GROOVY_FILES = [*JENKINS_VARS, ROOT / "examples" / "Jenkinsfile"]
SETUP = "run `bash scripts/setup.sh test` (as root on Debian)"
# A GString (double quotes) handed to sh: values would be interpolated into the script.
SH_GSTRING = re.compile(r"\bsh\s*\(?\s*(?:script\s*:\s*)?\"")


def tool(name: str) -> str:
    """The venv's copy of a tool (check-jsonschema, zizmor), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: {SETUP}")
    return found


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data


def test_the_files_are_there() -> None:
    assert [p.parent.name for p in ACTIONS] == ["check", "promote", "release"]
    assert [p.name for p in WORKFLOWS] == ["approve.yml", "check.yml", "release.yml"]
    assert [p.stem for p in JENKINS_VARS] == [
        "pipelineKitApprove",
        "pipelineKitCheck",
        "pipelineKitCli",
        "pipelineKitPromote",
        "pipelineKitRelease",
    ]


# -- GitHub: schemas, zizmor, no expressions in scripts ------------------------------------


@pytest.mark.parametrize(
    ("schema", "files"),
    [("vendor.github-actions", ACTIONS), ("vendor.github-workflows", WORKFLOWS)],
    ids=["actions", "workflows"],
)
def test_files_match_the_vendored_github_schema(schema: str, files: list[Path]) -> None:
    done = run(tool("check-jsonschema"), "--no-cache", "--builtin-schema", schema, *files)
    assert done.returncode == 0, done.stdout + done.stderr


def zizmor(*flags: str) -> list[dict[str, Any]]:
    done = run(
        tool("zizmor"),
        "--offline",
        "--no-config",
        "--no-progress",
        "--no-exit-codes",
        "--format=json",
        *flags,
        *ACTIONS,
        *WORKFLOWS,
    )
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def describe(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{f['ident']} ({f['determinations']['severity']}): "
        f"{f['locations'][0]['symbolic']['key']['Local']['verbatim_path']} "
        f"{f['locations'][0]['concrete']['location']['start_point']}: {f['desc']}"
        for f in findings
    )


def test_zizmor_finds_nothing_of_medium_severity_or_more() -> None:
    findings = zizmor("--min-severity=medium")
    assert findings == [], describe(findings)


def test_zizmor_suppressions_are_the_reviewed_ones() -> None:
    """The only ignore comments: github-env on each action's install step, which writes a
    constant path under RUNNER_TEMP to GITHUB_PATH (no input reaches it)."""
    findings = zizmor("--min-severity=medium", "--no-ignores")
    seen = sorted(
        (
            f["ident"],
            Path(f["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"]).resolve(),
            f["locations"][0]["symbolic"]["route"]["route"],
        )
        for f in findings
    )
    route = [{"Key": "runs"}, {"Key": "steps"}, {"Index": 0}, {"Key": "run"}]
    assert seen == [("github-env", p, route) for p in ACTIONS], describe(findings)
    for action in ACTIONS:
        install = load(action)["runs"]["steps"][0]
        assert install["name"] == "Install pipeline-kit"
        writes = [line.strip() for line in install["run"].splitlines() if ">>" in line]
        assert writes == ['echo "$pk/bin" >> "$GITHUB_PATH"']


def all_steps(path: Path) -> list[dict[str, Any]]:
    data = load(path)
    if "runs" in data:
        steps: list[dict[str, Any]] = data["runs"]["steps"]
        return steps
    return [step for job in data["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("path", [*ACTIONS, *WORKFLOWS], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_expression_inside_a_run_script(path: Path) -> None:
    for step in all_steps(path):
        assert "${{" not in step.get("run", ""), f"{path}: {step.get('name')}"
        if "uses" in step:
            assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_action_outputs_are_what_the_cli_writes() -> None:
    expected = {
        "release": ["service", "version", "image", "stage", "result"],
        "promote": ["service", "version", "stage", "result"],
        "check": ["version", "violations", "result"],
    }
    for action in ACTIONS:
        outputs = load(action)["outputs"]
        assert list(outputs) == expected[action.parent.name]
        step = action.parent.name
        assert all(o["value"] == f"${{{{ steps.{step}.outputs.{k} }}}}" for k, o in outputs.items())


# -- the actions and workflows, run by the emulator with a stand-in CLI --------------------

FAKE_CLI = """\
#!PYTHON
# A stand-in for pipeline-kit: records its arguments and environment, writes outputs.
import json, os, sys
keys = ("GITHUB_TOKEN", "PIPELINE_KIT_CONFIG", "PIPELINE_KIT_DB", "PIPELINE_KIT_HOSTS",
        "PIPELINE_KIT_REGISTRY_USERNAME", "PIPELINE_KIT_REGISTRY_PASSWORD", "GITHUB_REPOSITORY",
        "GITHUB_SHA", "PIPELINE_KIT_APPROVER")
with open(os.environ["FAKE_RECORD"], "a") as out:
    seen = {k: os.environ[k] for k in keys if k in os.environ}
    out.write(json.dumps({"argv": sys.argv[1:], "env": seen}) + "\\n")
if os.environ.get("GITHUB_OUTPUT"):
    with open(os.environ["GITHUB_OUTPUT"], "a") as out:
        for key, value in json.loads(os.environ.get("FAKE_OUTPUTS", "{}")).items():
            out.write(f"{key}<<EOF\\n{value}\\nEOF\\n" if "\\n" in value else f"{key}={value}\\n")
for arg in sys.argv:
    if arg.startswith("--junit-dir="):
        os.makedirs(arg.split("=", 1)[1], exist_ok=True)
        with open(os.path.join(arg.split("=", 1)[1], "pipeline-kit-qa.xml"), "w") as out:
            out.write("<testsuites/>")
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""
HOSTILE = {"service": "web; touch pwned", "version": "$(touch pwned2)"}
# Stand-in credentials, none real: the job's GITHUB_TOKEN, a token input, the registry's.
JOB_GH, INPUT_GH, REGISTRY_USER, REGISTRY_WORD = "job-token", "t", "user", "pass:word"


def fake_cli(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE_CLI.replace("PYTHON", sys.executable), encoding="utf-8")
    path.chmod(0o755)
    return path


def records(tmp_path: Path) -> list[dict[str, Any]]:
    record = tmp_path / "record.jsonl"
    lines = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
    return [json.loads(line) for line in lines]


@pytest.fixture
def job(tmp_path: Path) -> dict[str, Any]:
    """A workspace, RUNNER_TEMP with pipeline-kit installed (the stand-in) and the job env."""
    workspace, runner_temp = tmp_path / "workspace", tmp_path / "runner-temp"
    workspace.mkdir()
    fake_cli(runner_temp / "pipeline-kit" / "bin" / "pipeline-kit")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GITHUB_TOKEN": JOB_GH,
        "GITHUB_REPOSITORY": "example/webapp",
        "GITHUB_REF": "refs/tags/v1.2.0",
        "GITHUB_REF_NAME": "v1.2.0",
        "FAKE_RECORD": str(tmp_path / "record.jsonl"),
    }
    return {"env": env, "workspace": workspace, "runner_temp": runner_temp}


def test_promote_action_passes_inputs_as_arguments_never_as_code(
    job: dict[str, Any], tmp_path: Path
) -> None:
    job["env"]["FAKE_OUTPUTS"] = json.dumps({"service": "webapp", "version": "1.2.0", "x": "a\nb"})
    inputs = {**HOSTILE, "to": 'qa"; touch pwned3', "dry-run": "true", "config": "ci.toml"}
    result = run_action(ROOT / "actions" / "promote", inputs, **job)
    assert result.exit_code == 0, result.stderr
    [call] = records(tmp_path)
    assert call["argv"] == [
        "promote",
        '--to=qa"; touch pwned3',
        "--junit-dir=pipeline-kit-reports",
        "--dry-run",
        "--",
        "web; touch pwned",
        "$(touch pwned2)",
    ]
    assert call["env"]["GITHUB_TOKEN"] == JOB_GH  # the default ${{ github.token }}
    assert call["env"]["PIPELINE_KIT_CONFIG"] == "ci.toml"
    assert not list(job["workspace"].glob("pwned*"))
    assert result.outputs == {"service": "webapp", "version": "1.2.0", "stage": "", "result": ""}


def test_promote_action_writes_the_dashboard_even_when_the_promotion_fails(
    job: dict[str, Any], tmp_path: Path
) -> None:
    job["env"]["FAKE_EXIT"] = "1"
    inputs = {"service": "webapp", "to": "qa", "dashboard": "site; touch pwned"}
    result = run_action(ROOT / "actions" / "promote", inputs, **job)
    assert result.exit_code == 1  # the promotion's verdict, not the dashboard's
    calls = [c["argv"] for c in records(tmp_path)]
    assert calls[1] == ["dashboard", "--out=site; touch pwned"]
    assert calls[0][:2] == ["promote", "--to=qa"]
    assert not list(job["workspace"].glob("pwned*"))


def test_check_action_arguments_and_bad_inputs(job: dict[str, Any], tmp_path: Path) -> None:
    check = ROOT / "actions" / "check"
    result = run_action(check, {"from-git": "true", "token": INPUT_GH, "config": "c.toml"}, **job)
    assert result.exit_code == 0, result.stderr
    result = run_action(check, {"version": "1.2.0", "from-git": "true"}, **job)
    assert result.exit_code == 2
    assert "not both" in result.stdout
    result = run_action(check, {"strict-feedback": "yes"}, **job)
    assert result.exit_code == 2
    [call] = records(tmp_path)  # the bad inputs never reached the CLI
    assert call["argv"] == [
        "check",
        "--from-git",
        "--config=c.toml",
        "--junit-dir=pipeline-kit-reports",
    ]
    assert call["env"]["GITHUB_TOKEN"] == INPUT_GH


def test_release_workflow_moves_the_released_version_job_to_job(
    job: dict[str, Any], tmp_path: Path
) -> None:
    workflow = ROOT / "examples" / "github" / "release.yml"
    secrets = {"PIPELINE_KIT_DB": "postgresql+psycopg://pk@db/pk"}
    registry = {"USERNAME": REGISTRY_USER, "PASSWORD": REGISTRY_WORD}
    secrets |= {f"PIPELINE_KIT_REGISTRY_{k}": v for k, v in registry.items()}
    common = {**job, "action_root": ROOT, "secrets": secrets, "vars": {"PIPELINE_KIT_HOSTS": "a=x"}}
    out = {"service": "webapp", "version": "1.2.0", "image": "r/webapp:1.2.0", "stage": "dev"}
    job["env"]["FAKE_OUTPUTS"] = json.dumps({**out, "result": "passed"})
    released = run_job(workflow, "release", **common)
    assert released.exit_code == 0, released.stderr
    assert released.outputs == {"service": "webapp", "version": "1.2.0"}
    with pytest.raises(RunnerError, match="needs release"):
        run_job(workflow, "promote-qa", **common)
    job["env"]["FAKE_OUTPUTS"] = json.dumps({**out, "stage": "qa", "result": "passed"})
    qa = run_job(workflow, "promote-qa", **common, needs_outputs={"release": released.outputs})
    assert qa.exit_code == 0, qa.stderr
    prod = run_job(workflow, "promote-prod", **common, needs_outputs={"promote-qa": qa.outputs})
    assert prod.exit_code == 0, prod.stderr
    calls = records(tmp_path)
    assert [c["argv"] for c in calls] == [
        ["release", "--to=dev", "--junit-dir=pipeline-kit-reports"],
        ["promote", "--to=qa", "--junit-dir=pipeline-kit-reports", "--", "webapp", "1.2.0"],
        ["promote", "--to=prod", "--junit-dir=pipeline-kit-reports", "--", "webapp", "1.2.0"],
        ["dashboard", "--out=pipeline-kit-dashboard"],  # written after prod, then published
    ]
    assert calls[0]["env"]["PIPELINE_KIT_REGISTRY_PASSWORD"] == REGISTRY_WORD
    assert all(c["env"]["PIPELINE_KIT_DB"] == secrets["PIPELINE_KIT_DB"] for c in calls)
    assert all(c["env"]["PIPELINE_KIT_HOSTS"] == "a=x" for c in calls)


def test_check_workflow_runs_the_check_from_git(job: dict[str, Any], tmp_path: Path) -> None:
    workflow = ROOT / "examples" / "github" / "check.yml"
    secrets = {"PIPELINE_KIT_DB_READONLY": "postgresql+psycopg://ro@db/pk"}
    result = run_job(workflow, "check", **job, action_root=ROOT, secrets=secrets)
    assert result.exit_code == 0, result.stderr
    [call] = records(tmp_path)
    assert call["argv"] == ["check", "--from-git", "--junit-dir=pipeline-kit-reports"]
    assert call["env"]["PIPELINE_KIT_DB"] == secrets["PIPELINE_KIT_DB_READONLY"]


# -- the runner emulator itself --------------------------------------------------------------

TINY_ACTION = """\
name: tiny
description: a throwaway composite action
inputs:
  word:
    description: a word
    required: true
  token:
    description: a token
    default: ${{ github.token }}
outputs:
  said:
    description: what the first step said
    value: ${{ steps.first.outputs.said }}
  lines:
    description: a multi-line output
    value: ${{ steps.second.outputs.lines }}
runs:
  using: composite
  steps:
    - id: first
      shell: bash
      env:
        WORD: ${{ inputs.word }}
        TOKEN: ${{ inputs.token }}
        WHERE: ${{ github.action_path }}
      run: |
        mkdir -p "$RUNNER_TEMP/tools"
        printf '#!/bin/sh\\necho tool ran\\n' > "$RUNNER_TEMP/tools/tiny-tool"
        chmod +x "$RUNNER_TEMP/tools/tiny-tool"
        echo "$RUNNER_TEMP/tools" >> "$GITHUB_PATH"
        echo "FROM_FIRST=$WORD" >> "$GITHUB_ENV"
        echo "said=$WORD with $TOKEN" >> "$GITHUB_OUTPUT"
        test "$WHERE" = "$GITHUB_ACTION_PATH"
        echo "# tiny" >> "$GITHUB_STEP_SUMMARY"
    - id: second
      shell: bash
      env:
        AGAIN: ${{ env.FROM_FIRST }}
      run: |
        tiny-tool
        test "$FROM_FIRST" = "$AGAIN"
        { echo "lines<<END"; echo "one"; echo "two"; echo "END"; } >> "$GITHUB_OUTPUT"
        test "$(pwd)" = "$GITHUB_WORKSPACE"
"""


def tiny(tmp_path: Path, text: str = TINY_ACTION) -> Path:
    action = tmp_path / "tiny"
    action.mkdir(parents=True, exist_ok=True)
    (action / "action.yml").write_text(text, encoding="utf-8")
    return action


def test_runner_outputs_path_env_and_summary(job: dict[str, Any], tmp_path: Path) -> None:
    result = run_action(tiny(tmp_path), {"word": "hello"}, **job)
    assert result.exit_code == 0, result.stderr
    assert result.outputs == {"said": "hello with job-token", "lines": "one\ntwo"}
    assert result.stdout == "tool ran\n"
    assert result.summary == "# tiny\n"
    assert [s.id for s in result.steps] == ["first", "second"]


def test_runner_refuses_what_github_would_not_run(job: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="'word' is required"):
        run_action(tiny(tmp_path), {}, **job)
    with pytest.raises(RunnerError, match="unexpected input"):
        run_action(tiny(tmp_path), {"word": "a", "other": "b"}, **job)
    injected = TINY_ACTION.replace('echo "# tiny"', 'echo "${{ inputs.word }}"')
    with pytest.raises(RunnerError, match=r"in run:"):
        run_action(tiny(tmp_path, injected), {"word": "a"}, **job)
    function = TINY_ACTION.replace("${{ inputs.word }}", "${{ format('{0}', inputs.word) }}")
    with pytest.raises(RunnerError, match="only context references"):
        run_action(tiny(tmp_path, function), {"word": "a"}, **job)


def test_runner_stops_at_the_first_failing_step(job: dict[str, Any], tmp_path: Path) -> None:
    failing = TINY_ACTION.replace(
        "        tiny-tool\n", "        echo broken >&2\n        exit 7\n"
    )
    result = run_action(tiny(tmp_path, failing), {"word": "w"}, **job)
    assert result.exit_code == 7
    assert result.failed_step is not None
    assert result.failed_step.id == "second"
    assert result.stderr == "broken\n"
    assert result.outputs == {"said": "w with job-token", "lines": ""}
    pipefail = TINY_ACTION.replace("        tiny-tool\n", "        false | true\n        exit 0\n")
    assert run_action(tiny(tmp_path, pipefail), {"word": "w"}, **job).exit_code == 1


def test_runner_runs_jobs_with_needs_secrets_and_vars(job: dict[str, Any], tmp_path: Path) -> None:
    tiny(tmp_path / "root" / "actions")
    workflow = tmp_path / "workflow.yml"
    sha = "0" * 40
    workflow.write_text(
        f"""\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    needs: setup
    env:
      WORD: ${{{{ needs.setup.outputs.word }}}}-${{{{ secrets.S }}}}-${{{{ vars.V }}}}
    outputs:
      said: ${{{{ steps.tiny.outputs.said }}}}
      ref: ${{{{ steps.plain.outputs.ref }}}}
    steps:
      - uses: actions/checkout@{sha}
      - id: tiny
        uses: pipeline-kit/pipeline-kit/actions/tiny@{sha}
        with:
          word: ${{{{ env.WORD }}}}
      - id: plain
        env:
          REF: ${{{{ github.ref_name }}}}
        run: echo "ref=$REF $FROM_FIRST" >> "$GITHUB_OUTPUT"
""",
        encoding="utf-8",
    )
    result = run_job(
        workflow,
        "build",
        **job,
        action_root=tmp_path / "root",
        needs_outputs={"setup": {"word": "w"}},
        secrets={"S": "s"},
        vars={"V": "v"},
    )
    assert result.exit_code == 0, result.stderr
    assert result.outputs == {"said": "w-s-v with job-token", "ref": "v1.2.0 w-s-v"}
    unpinned = workflow.read_text().replace(f"actions/checkout@{sha}", "actions/checkout@v4")
    workflow.write_text(unpinned)
    with pytest.raises(RunnerError, match="not emulated"):
        run_job(
            workflow, "build", **job, action_root=tmp_path / "root", needs_outputs={"setup": {}}
        )


# -- Jenkins: the shared library parses, never interpolates, and runs ----------------------


def groovy_env() -> dict[str, str]:
    """Debian's groovy looks for /usr/lib/jvm/default-java unless JAVA_HOME says otherwise."""
    if not shutil.which("groovy"):
        pytest.fail(f"groovy is not installed: {SETUP}")
    env = dict(os.environ)
    if not Path(env.get("JAVA_HOME", "/usr/lib/jvm/default-java"), "bin", "java").exists():
        java = shutil.which("java")
        if not java:
            pytest.fail(f"java is not installed (groovy needs it): {SETUP}")
        env["JAVA_HOME"] = str(Path(java).resolve().parents[1])
    return env


def parse_groovy(*files: Path) -> subprocess.CompletedProcess[str]:
    return run("groovy", SUPPORT / "parse_groovy.groovy", *files, env=groovy_env())


def test_groovy_files_parse() -> None:
    done = parse_groovy(*GROOVY_FILES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("parsed ") == len(GROOVY_FILES)


def test_groovy_parse_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.groovy"
    broken.write_text("def call(Map args = [:]) {\n    sh 'true'\n", encoding="utf-8")
    done = parse_groovy(GROOVY_FILES[0], broken)
    assert done.returncode == 1
    assert "broken.groovy" in done.stderr
    assert done.stdout.count("parsed ") == 1


def test_no_sh_step_gets_a_gstring() -> None:
    assert SH_GSTRING.search('sh "pipeline-kit promote ${args.service}"')
    assert SH_GSTRING.search('sh(script: """x""", returnStatus: true)')
    assert not SH_GSTRING.search("sh(script: script, returnStatus: true)")
    for path in GROOVY_FILES:
        text = path.read_text(encoding="utf-8")
        assert not SH_GSTRING.search(text), f"{path}: a GString handed to sh"
        # Each file runs sh itself, or hands its single-quoted script to pipelineKitCli,
        # which does: either way the check above is not vacuous.
        runs = re.search(r"\bsh[ (]", text) or "pipelineKitCli.execute(" in text
        assert runs, f"{path}: no sh step found (the check is vacuous)"


def jenkins_var(
    tmp_path: Path, name: str, args: dict[str, Any], exit_code: int = 0
) -> dict[str, Any]:
    """Run ``jenkins/vars/NAME.groovy`` with the step stand-ins and the stand-in CLI."""
    workspace = tmp_path / "workspace"
    (workspace / "pipeline-kit-reports").mkdir(parents=True, exist_ok=True)
    (workspace / "pipeline-kit-reports" / "pipeline-kit-old.xml").write_text("<old/>")
    cli = fake_cli(tmp_path / "bin" / "pipeline-kit")
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "workspace": str(workspace),
                "args": {"bin": str(cli), **args},
                "env": {"GIT_COMMIT": "c0ffee"},
                "credentials": {"gh": JOB_GH, "registry": f"{REGISTRY_USER}:{REGISTRY_WORD}"},
            }
        )
    )
    env = groovy_env() | {
        "FAKE_RECORD": str(tmp_path / "record.jsonl"),
        "FAKE_EXIT": str(exit_code),
    }
    env["FAKE_OUTPUTS"] = json.dumps({"service": "webapp", "version": "1.2.0", "notes": "a\nb"})
    var = ROOT / "jenkins" / "vars" / f"{name}.groovy"
    done = run("groovy", SUPPORT / "jenkins_var.groovy", var, scenario, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def test_jenkins_promote_passes_values_through_the_environment(tmp_path: Path) -> None:
    args = {**HOSTILE, "to": "qa", "dryRun": True, "config": "ci.toml"}
    report = jenkins_var(tmp_path, "pipelineKitPromote", {**args, "githubCredentialsId": "gh"})
    assert report["error"] == (
        "pipelineKitPromote: githubCredentialsId needs githubRepository: 'owner/name' "
        "(where the feedback goes)"
    )
    args |= {"githubCredentialsId": "gh", "githubRepository": "example/webapp"}
    report = jenkins_var(tmp_path, "pipelineKitPromote", args)
    assert report["error"] is None, report
    assert report["returned"] == {
        "service": "webapp",
        "version": "1.2.0",
        "notes": "a\nb",
        "status": 0,
    }
    [call] = records(tmp_path)
    assert call["argv"] == [
        "promote",
        "--to=qa",
        "--junit-dir=pipeline-kit-reports",
        "--dry-run",
        "--",
        "web; touch pwned",
        "$(touch pwned2)",
    ]
    assert call["env"] == {
        "GITHUB_TOKEN": JOB_GH,
        "PIPELINE_KIT_CONFIG": "ci.toml",
        "GITHUB_REPOSITORY": "example/webapp",
        "GITHUB_SHA": "c0ffee",
    }
    assert report["junit"] == ["pipeline-kit-reports/pipeline-kit-*.xml"]
    reports = tmp_path / "workspace" / "pipeline-kit-reports"
    assert sorted(p.name for p in reports.iterdir()) == ["pipeline-kit-qa.xml"]  # old one gone
    assert not list((tmp_path / "workspace").glob("pwned*"))
    assert not [p for p in (tmp_path / "workspace@tmp").iterdir() if p.suffix == ".outputs"]


def test_jenkins_steps_write_the_dashboard_even_when_the_command_fails(tmp_path: Path) -> None:
    args = {"service": "webapp", "to": "qa", "dashboard": "site; touch pwned"}
    report = jenkins_var(tmp_path, "pipelineKitPromote", args, exit_code=1)
    assert report["error"].startswith("pipelineKitPromote: pipeline-kit promote exited with 1")
    calls = [c["argv"] for c in records(tmp_path)]
    assert calls[1] == ["dashboard", "--out=site; touch pwned"]
    labels = [c["label"] for c in report["sh"]]
    assert labels[:2] == ["pipeline-kit promote", "pipeline-kit dashboard"]
    assert not list((tmp_path / "workspace").glob("pwned*"))


def test_jenkins_release_fails_the_build_after_recording_junit(tmp_path: Path) -> None:
    args = {"tag": "v1.2.0", "registryCredentialsId": "registry", "strictFeedback": "true"}
    report = jenkins_var(tmp_path, "pipelineKitRelease", args, exit_code=1)
    assert report["error"] == (
        "pipelineKitRelease: pipeline-kit release exited with 1: "
        "refused, a constraint or check failed (nothing changed)"
    )
    assert report["junit"] == ["pipeline-kit-reports/pipeline-kit-*.xml"]
    [call] = records(tmp_path)
    assert call["argv"] == [
        "release",
        "--tag=v1.2.0",
        "--junit-dir=pipeline-kit-reports",
        "--strict-feedback",
    ]
    assert call["env"]["PIPELINE_KIT_REGISTRY_USERNAME"] == REGISTRY_USER
    assert call["env"]["PIPELINE_KIT_REGISTRY_PASSWORD"] == REGISTRY_WORD
    report = jenkins_var(tmp_path, "pipelineKitRelease", {"failOnError": False}, exit_code=3)
    assert report["error"] is None
    assert report["returned"]["status"] == 3


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("pipelineKitPromote", {"to": "qa"}, "the 'service' argument is required"),
        ("pipelineKitPromote", {"service": "web", "to": " "}, "the 'to' argument is required"),
        ("pipelineKitCheck", {"version": "1.0.0", "fromGit": True}, "not both"),
        ("pipelineKitCheck", {"fromgit": True}, "unknown argument 'fromgit'"),
        ("pipelineKitRelease", {"strictFeedback": "yes"}, "expected true or false"),
    ],
)
def test_jenkins_variables_refuse_bad_arguments_before_running(
    tmp_path: Path, name: str, args: dict[str, Any], message: str
) -> None:
    report = jenkins_var(tmp_path, name, args)
    assert message in report["error"]
    assert report["sh"] == []
    assert records(tmp_path) == []


def test_jenkins_approve_passes_the_input_submitter_as_the_approver(tmp_path: Path) -> None:
    args = {**HOSTILE, "stage": "prod", "approver": "carol; touch pwned3"}
    report = jenkins_var(tmp_path, "pipelineKitApprove", args)
    assert report["error"] is None, report
    [call] = records(tmp_path)
    assert call["argv"] == [
        "approve",
        "--stage=prod",
        "--",
        "web; touch pwned",
        "$(touch pwned2)",
    ]
    assert call["env"] == {"PIPELINE_KIT_APPROVER": "carol; touch pwned3"}
    assert report["junit"] == []
    assert not list((tmp_path / "workspace").glob("pwned*"))
    missing = jenkins_var(tmp_path, "pipelineKitApprove", {**HOSTILE, "stage": "prod"})
    assert "the 'approver' argument is required" in missing["error"]


def test_jenkins_check_from_git(tmp_path: Path) -> None:
    report = jenkins_var(tmp_path, "pipelineKitCheck", {"fromGit": True, "config": "pr.toml"})
    assert report["error"] is None, report
    [call] = records(tmp_path)
    assert call["argv"] == [
        "check",
        "--from-git",
        "--config=pr.toml",
        "--junit-dir=pipeline-kit-reports",
    ]
    assert "PIPELINE_KIT_CONFIG" not in call["env"]
