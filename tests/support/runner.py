"""A small GitHub Actions runner for the tests: composite actions and the jobs of a workflow.

Like GitHub's runner: ``run:`` scripts under ``bash --noprofile --norc -eo pipefail``, fresh
``GITHUB_OUTPUT``/``GITHUB_ENV``/``GITHUB_PATH`` files applied to later steps, ``${{ }}`` as plain
context references. Anything else raises ``RunnerError``; only ``actions/checkout`` (the test
prepares the workspace) and ``actions/upload-artifact`` are skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

STEP_TIMEOUT = 1800  # seconds; a first install of pipeline-kit with pip can be slow
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # shell: bash
DEFAULT_SHELL = ["bash", "-e"]  # a workflow step without shell:
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
REFERENCE = re.compile(r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*")
OUR_ACTION = re.compile(r"pipeline-kit/pipeline-kit/actions/([\w-]+)@[0-9a-f]{40}")
SKIPPED = re.compile(r"actions/(?:checkout|upload-artifact)@[0-9a-f]{40}")
JOB_KEYS = {"name", "runs-on", "environment", "permissions", "needs", "timeout-minutes", "env"}
JOB_KEYS |= {"concurrency", "outputs", "steps"}
RUN_KEYS = {"name", "id", "run", "shell", "env", "working-directory"}
USES_KEYS = {"name", "id", "uses", "with"}


class RunnerError(Exception):
    """The workflow or action is invalid, or uses something this runner does not emulate."""


@dataclass
class StepResult:
    name: str
    id: str | None
    exit_code: int
    stdout: str
    stderr: str
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class _Result:
    outputs: dict[str, str]
    steps: list[StepResult]  # up to the first failing one
    summary: str = ""  # what the steps appended to GITHUB_STEP_SUMMARY

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.exit_code), None)

    @property
    def exit_code(self) -> int:
        return self.failed_step.exit_code if self.failed_step else 0

    @property
    def stdout(self) -> str:
        return "".join(s.stdout for s in self.steps)

    @property
    def stderr(self) -> str:
        return "".join(s.stderr for s in self.steps)


@dataclass
class ActionResult(_Result):
    """A composite action's run: its outputs, as its ``outputs:`` map them."""


@dataclass
class JobResult(_Result):
    """A job's run: its outputs, as its ``outputs:`` map them."""


def _load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RunnerError(f"{path}: not a YAML mapping")
    return data


def _text(value: object) -> str:
    """A YAML scalar as GitHub sees it: booleans are ``true``/``false``, null is empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass
class _Contexts:
    """The expression contexts of a step; ``None`` marks a context that does not exist there."""

    env: Mapping[str, str]  # the job's: GITHUB_*, RUNNER_* and what env: and GITHUB_ENV set
    inputs: Mapping[str, str] | None = None
    action_path: Path | None = None
    steps: dict[str, dict[str, str]] = field(default_factory=dict)
    needs: Mapping[str, Mapping[str, str]] | None = None
    secrets: Mapping[str, str] | None = None
    vars: Mapping[str, str] | None = None

    def lookup(self, expression: str) -> str:
        head, *rest = expression.split(".")
        match head, rest:
            case "inputs", [name] if self.inputs is not None:
                if name not in self.inputs:
                    raise RunnerError(f"${{{{ {expression} }}}}: the action has no such input")
                return self.inputs[name]
            case "env", [name]:
                return self.env.get(name, "")
            case "steps", [step, "outputs", name]:
                return self.steps.get(step, {}).get(name, "")
            case "needs", [job, "outputs", name] if self.needs is not None:
                if job not in self.needs:
                    raise RunnerError(f"${{{{ {expression} }}}}: {job} is not in the job's needs")
                return self.needs[job].get(name, "")
            case "secrets", [name] if self.secrets is not None:
                return self.secrets.get(name, "")
            case "vars", [name] if self.vars is not None:
                return self.vars.get(name, "")
            case "github", ["action_path"] if self.action_path is not None:
                return str(self.action_path)
            case "github", [name] if name != "action_path":
                return self.env.get(f"GITHUB_{name.upper()}", "")
            case "runner", [name]:
                return self.env.get(f"RUNNER_{name.upper()}", "")
        raise RunnerError(f"${{{{ {expression} }}}} is not emulated here")

    def evaluate(self, value: object) -> str:
        def one(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            if not REFERENCE.fullmatch(expression):
                raise RunnerError(f"${{{{ {expression} }}}}: only context references are emulated")
            return self.lookup(expression)

        return EXPRESSION.sub(one, _text(value))

    def evaluate_map(self, values: object, what: str) -> dict[str, str]:
        if not isinstance(values, dict | None):
            raise RunnerError(f"{what}: expected a mapping")
        return {str(k): self.evaluate(v) for k, v in (values or {}).items()}


def _read_commands(path: Path) -> dict[str, str]:
    """``GITHUB_OUTPUT``/``GITHUB_ENV`` lines: ``k=v`` and ``k<<DELIMITER`` … ``DELIMITER``."""
    values: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if not line.strip():
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals > 0 and (heredoc < 0 or equals < heredoc):
            values[line[:equals]] = line[equals + 1 :]
        elif heredoc > 0:
            key, delimiter, body = line[:heredoc], line[heredoc + 2 :], []
            for value_line in lines:
                if value_line == delimiter:
                    break
                body.append(value_line)
            else:
                raise RunnerError(f"{path.name}: no closing {delimiter!r} for {key!r}")
            values[key] = "\n".join(body)
        else:
            raise RunnerError(f"{path.name}: invalid line {line!r}")
    return values


def _check_keys(mapping: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise RunnerError(f"{what}: {', '.join(unknown)} not emulated")


@dataclass
class _Job:
    """What the steps of one job share: the environment, added PATH entries, the summary."""

    env: dict[str, str]
    workspace: Path
    runner_temp: Path
    summary: Path
    path: list[str] = field(default_factory=list)  # GITHUB_PATH entries, the newest first

    @classmethod
    def start(cls, env: Mapping[str, str], workspace: Path, runner_temp: Path) -> _Job:
        runner_temp.mkdir(parents=True, exist_ok=True)
        summary = Path(tempfile.mkdtemp(prefix="job-", dir=runner_temp)) / "step_summary.md"
        summary.touch()
        environ = {"GITHUB_ACTIONS": "true", "CI": "true", **env, "RUNNER_TEMP": str(runner_temp)}
        environ["GITHUB_WORKSPACE"] = str(workspace)
        environ.setdefault("PATH", os.environ.get("PATH", os.defpath))
        return cls(environ, workspace, runner_temp, summary)

    def run(self, step: Mapping[str, Any], ctx: _Contexts, extra: Mapping[str, str]) -> StepResult:
        """Run one ``run:`` step the way GitHub's runner does; apply its file commands."""
        script = _text(step.get("run"))
        name = _text(step.get("name")) or f"Run {script.strip().partition(chr(10))[0]}"
        if "${{" in script:
            raise RunnerError(f"step {name!r}: ${{{{ }}}} in run: (pass values through env:)")
        shell = step.get("shell")
        if shell not in ("bash", None) or (shell is None and ctx.action_path is not None):
            raise RunnerError(f"step {name!r}: shell {shell!r} not emulated (use shell: bash)")
        files = Path(tempfile.mkdtemp(prefix="step-", dir=self.runner_temp))
        output, env_file, path_file = files / "output", files / "env", files / "path"
        for file in (output, env_file, path_file):
            file.touch()
        (files / "script.sh").write_text(script, encoding="utf-8")
        environ = {**self.env, **ctx.evaluate_map(step.get("env"), f"step {name!r} env"), **extra}
        environ |= {
            "GITHUB_OUTPUT": str(output),
            "GITHUB_ENV": str(env_file),
            "GITHUB_PATH": str(path_file),
            "GITHUB_STEP_SUMMARY": str(self.summary),
        }
        if self.path:
            environ["PATH"] = os.pathsep.join([*self.path, self.env["PATH"]])
        cwd = self.workspace / ctx.evaluate(step.get("working-directory") or ".")
        done = subprocess.run(
            [*(BASH if shell else DEFAULT_SHELL), str(files / "script.sh")],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        self.env.update(_read_commands(env_file))
        for entry in path_file.read_text(encoding="utf-8").splitlines():
            if entry.strip():
                self.path[:] = [entry.strip(), *(p for p in self.path if p != entry.strip())]
        step_id = _text(step.get("id")) or None
        outputs = _read_commands(output)
        return StepResult(name, step_id, done.returncode, done.stdout, done.stderr, outputs)


def _run_action(job: _Job, action_dir: Path, given: Mapping[str, str]) -> ActionResult:
    spec = _load(action_dir / "action.yml")
    runs = spec.get("runs") or {}
    if runs.get("using") != "composite":
        raise RunnerError(f"{action_dir}: only composite actions are emulated")
    declared: dict[str, Any] = spec.get("inputs") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise RunnerError(f"{action_dir.name}: unexpected input(s) {', '.join(unknown)}")
    ctx = _Contexts(job.env, action_path=action_dir)
    inputs: dict[str, str] = {}
    for name, decl in declared.items():
        if name in given:
            inputs[name] = given[name]
        elif (decl or {}).get("required") and "default" not in (decl or {}):
            raise RunnerError(f"{action_dir.name}: the input {name!r} is required")
        else:
            inputs[name] = ctx.evaluate((decl or {}).get("default", ""))
    ctx.inputs = inputs
    steps: list[StepResult] = []
    for step in runs.get("steps") or []:
        if "uses" in step:
            raise RunnerError(f"{action_dir.name}: uses: inside a composite action not emulated")
        _check_keys(step, RUN_KEYS, f"{action_dir.name} step {step.get('name')!r}")
        result = job.run(step, ctx, {"GITHUB_ACTION_PATH": str(action_dir)})
        steps.append(result)
        if result.id:
            ctx.steps[result.id] = result.outputs
        if result.exit_code:
            break
    outputs = {
        str(name): ctx.evaluate((decl or {}).get("value", ""))
        for name, decl in (spec.get("outputs") or {}).items()
    }
    return ActionResult(outputs, steps)


def run_action(
    action_dir: Path,
    inputs: dict[str, str],
    env: dict[str, str],
    workspace: Path,
    runner_temp: Path,
) -> ActionResult:
    """Run the composite action in ``action_dir`` as the only step of a job."""
    job = _Job.start(env, workspace, runner_temp)
    result = _run_action(job, action_dir.resolve(), inputs)
    result.summary = job.summary.read_text(encoding="utf-8")
    return result


def run_job(
    workflow: Path,
    job: str,
    env: dict[str, str],
    workspace: Path,
    runner_temp: Path,
    action_root: Path,
    needs_outputs: dict[str, dict[str, str]] | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
    vars: Mapping[str, str] | None = None,
) -> JobResult:
    """Run ``job`` of ``workflow``; ``pipeline-kit/pipeline-kit/actions/NAME@…`` is
    ``action_root/actions/NAME``; ``needs_outputs`` are the outputs of the jobs it needs."""
    spec = _load(workflow)
    definition = (spec.get("jobs") or {}).get(job)
    if not isinstance(definition, dict):
        raise RunnerError(f"{workflow.name}: no job {job!r}")
    _check_keys(definition, JOB_KEYS, f"job {job}")
    needs = definition.get("needs") or []
    needs = [needs] if isinstance(needs, str) else [str(n) for n in needs]
    missing = [n for n in needs if n not in (needs_outputs or {})]
    if missing:
        raise RunnerError(f"job {job} needs {', '.join(missing)}: pass their outputs")
    runner = _Job.start(env, workspace, runner_temp)
    ctx = _Contexts(runner.env, secrets=secrets or {}, vars=vars or {})
    ctx.needs = {n: (needs_outputs or {})[n] for n in needs}
    runner.env.update(ctx.evaluate_map(spec.get("env"), "workflow env"))
    runner.env.update(ctx.evaluate_map(definition.get("env"), f"job {job} env"))
    steps: list[StepResult] = []
    for step in definition.get("steps") or []:
        uses = _text(step.get("uses"))
        if uses and SKIPPED.fullmatch(uses):
            continue
        if uses:
            found = OUR_ACTION.fullmatch(uses)
            if not found:
                raise RunnerError(f"job {job}: uses: {uses} not emulated (pin by full SHA)")
            _check_keys(step, USES_KEYS, f"job {job} step {uses}")
            given = ctx.evaluate_map(step.get("with"), f"{uses} with")
            done = _run_action(runner, (action_root / "actions" / found[1]).resolve(), given)
            name, step_id = _text(step.get("name") or uses), _text(step.get("id")) or None
            result = StepResult(
                name, step_id, done.exit_code, done.stdout, done.stderr, done.outputs
            )
        elif "run" in step:
            _check_keys(step, RUN_KEYS, f"job {job} step {step.get('name')!r}")
            result = runner.run(step, ctx, {})
        else:
            raise RunnerError(f"job {job}: a step with neither run: nor uses:")
        steps.append(result)
        if result.id:
            ctx.steps[result.id] = result.outputs
        if result.exit_code:
            break
    outputs = ctx.evaluate_map(definition.get("outputs"), f"job {job} outputs")
    return JobResult(outputs, steps, runner.summary.read_text(encoding="utf-8"))
