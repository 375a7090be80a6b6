"""Results as values: every check a command makes, and the report that every format renders.

A :class:`Result` is one check (a constraint, a stage gate, a health check, a verification,
a build step) on one stage. A :class:`Report` is the results of one command run, with the
service, version and commit it was about. JUnit, the console table, the job summary, the
GitHub check run and the pull-request comment all render the same ``Report``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pipeline_kit.model import constraints as c
from pipeline_kit.model.approvals import passed as approvals_passed
from pipeline_kit.model.constraints import Violation
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy

Status = Literal["passed", "failed", "error", "skipped"]
Passed = tuple[str, str, str]  # stage, check, what it passed with in words
Locate = Callable[[Violation], tuple[str | None, int | None]]  # → config file and line

# Checked per stage a version enters, or sits in: invariants, then the stage gates.
STAGE_CHECKS = (c.VERSION_ORDER, c.CONTAINER, c.TREES, c.ENDPOINT)
GATE_CHECKS = (c.REJECTED, c.PRERELEASE, c.APPROVAL, c.SOAK)
# Checked once per service; reported on the stage the command acts on.
SERVICE_CHECKS = (c.SERVICE, c.STACK, c.STACK_HEIGHT, c.DISTINCT_HOSTS)


@dataclass(frozen=True, slots=True)
class Result:
    """One check: on which stage, what, how it went, in words, and how long it took.

    ``duration`` is None when the check was not timed on its own (constraints are
    evaluated together with the plan; the plan's own result carries that time).
    ``file``/``line`` point at the config line a violation comes from, when it does.
    """

    stage: str
    kind: str  # constraint, gate, plan, health, verify, build, push, apply, feedback
    name: str
    status: Status
    message: str = ""
    duration: float | None = None
    file: str | None = None
    line: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped")


@dataclass(frozen=True)
class Report:
    """The results of one command, with what it acted on."""

    command: str  # promote, release, check
    stages: tuple[str, ...]  # every configured stage, most trusted first (for ordering)
    results: tuple[Result, ...]
    service: str | None = None
    version: str | None = None
    commit: str | None = None
    target: str | None = None  # the stage the command acts on
    applied: bool = False
    error: str | None = None  # the one-line error that ended the command, if any
    versions: dict[str, str] = field(default_factory=dict)  # stage → version after the command
    before: dict[str, str] = field(default_factory=dict)  # stage → version before the command

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.results)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def by_stage(self) -> dict[str, list[Result]]:
        """Results grouped by stage: configured stages first (most trusted first), then others."""
        order = {name: i for i, name in enumerate(self.stages)}
        grouped: dict[str, list[Result]] = {}
        for result in self.results:
            grouped.setdefault(result.stage, []).append(result)
        return dict(sorted(grouped.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    def title(self) -> str:
        parts = [f"pipeline-kit {self.command}"]
        if self.service:
            parts.append(self.service)
        if self.version:
            parts.append(self.version)
        if self.target:
            parts.append(f"→ {self.target}")
        return " ".join(parts)


def stage_of(violation: Violation, policy: Policy, default: str) -> str:
    """The configured stage a violation is about, else ``default`` (service-wide ones)."""
    stage = violation.stage
    return stage if stage is not None and stage in policy.stages else default


def affected_stages(plan: Plan, policy: Policy) -> list[str]:
    """The stages whose version the plan changes, most trusted first."""
    positions = {ch.position for ch in plan.changes() if ch.old != ch.new}
    return [policy.stage_name(p) for p in sorted(positions) if p < len(policy.stages)]


def constraint_results(
    violations: Sequence[Violation],
    policy: Policy,
    stages: Iterable[str],
    target: str,
    gates: bool = True,
    locate: Locate | None = None,
    passed: Iterable[Passed] = (),
) -> list[Result]:
    """A result per constraint per stage: one passed, or one failed per violation.

    Stage checks (and gates, when ``gates``) are listed on each of ``stages``; service-wide
    checks on ``target``. ``locate`` gives the config file and line a violation comes from,
    for annotations. ``passed`` says in words what a check passed with (one passed result
    per line, e.g. an approval gate's tally), when it did not fail.
    """
    stages = list(dict.fromkeys([*stages, target]))
    by_key: dict[tuple[str, str], list[Violation]] = {}
    for v in violations:
        by_key.setdefault((stage_of(v, policy, target), v.constraint), []).append(v)
    layout: list[tuple[str, str, str]] = []
    for stage in stages:
        checks = [*STAGE_CHECKS, *(GATE_CHECKS if gates else ())]
        if stage == target:
            checks += SERVICE_CHECKS
        kinds = {name: ("gate" if name in GATE_CHECKS else "constraint") for name in checks}
        layout += [(stage, kinds[name], name) for name in checks]
    words: dict[tuple[str, str], list[str]] = {}
    for stage, name, text in passed:
        words.setdefault((stage, name), []).append(text)
    listed = {(stage, name) for stage, _, name in layout}
    layout += [
        (stage, "gate" if name in (*GATE_CHECKS, c.FREEZE) else "constraint", name)
        for stage, name in dict.fromkeys([*by_key, *words])
        if (stage, name) not in listed
    ]
    out: list[Result] = []
    for stage, kind, name in layout:
        found = by_key.get((stage, name), [])
        if not found:
            out += [Result(stage, kind, name, "passed", m) for m in words.get((stage, name), [""])]
        for v in found:
            where = locate(v) if locate is not None else (None, None)
            out.append(
                Result(stage, kind, name, "failed", f"{v.subject}: {v.message}", None, *where)
            )
    return out


def approval_notes(plan: Plan, policy: Policy) -> list[Passed]:
    """The approval gates the plan's entries pass, as ``passed`` lines for the results."""
    return [
        (policy.stage_name(p.position), c.APPROVAL, f"{p.subject}: {p.tally.passed()}")
        for p in approvals_passed(plan.after, policy, plan.entries)
    ]
