"""Approval policies: who may approve a stage, and how many distinct approvals count."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pipeline_kit.model.errors import ConstraintFailed
from pipeline_kit.model.items import Approval, Authored, State, same_version
from pipeline_kit.model.policy import Gate, Policy

if TYPE_CHECKING:
    from pipeline_kit.model.constraints import Entry


def members(policy: Policy, names: tuple[str, ...]) -> set[str]:
    """The people ``names`` stand for: each a person or a group (groups may name groups)."""
    out: set[str] = set()
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in policy.groups:
            if name not in seen:
                seen.add(name)
                todo.extend(policy.groups[name])
        else:
            out.add(name)
    return out


def author_of(state: State, service: str, version: str) -> Authored | None:
    """Who released ``version``, when it was recorded."""
    key = same_version(version)
    for record in state.authors:
        if record.service == service and same_version(record.version) == key:
            return record
    return None


def is_author(record: Authored | None, who: str) -> bool:
    """Whether ``who`` (a login or a name) is the author: ``Name <email>``, its email, the
    email's local part, or a GitHub ``ID+login@users.noreply.github.com`` login."""
    if record is None:
        return False
    text = record.author.strip()
    name, _, rest = text.partition("<")
    email = rest.rstrip(">").strip()
    local = email.split("@")[0]
    ids = {text, name.strip(), email, local, local.split("+")[-1]}
    return who.strip().lower() in {i.lower() for i in ids if i}


def refusal(state: State, policy: Policy, approval: Approval) -> str | None:
    """Why ``approval.by`` may not approve this version for this stage (None: they may)."""
    stage = policy.stage_name(approval.position)
    gate = policy.gate(approval.position)
    record = author_of(state, approval.service, approval.version)
    if not gate.self_approval and is_author(record, approval.by):
        return (
            f"{approval.by} released {approval.service} {approval.version} and may not approve "
            f"it (self_approval = false for {stage})"
        )
    if gate.approvers and approval.by not in members(policy, gate.approvers):
        return f"{approval.by} may not approve {stage}: approvers are {who(policy, gate)}"
    return None


def who(policy: Policy, gate: Gate) -> str:
    """``bob, release-managers (carol, dave)``; ``anyone`` without a list."""
    if not gate.approvers:
        return "anyone"
    parts = []
    for name in gate.approvers:
        if name in policy.groups:
            parts.append(f"{name} ({', '.join(sorted(members(policy, (name,))))})")
        else:
            parts.append(name)
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Tally:
    """The approvals one version has for one stage, and how many it needs."""

    stage: str
    need: int
    have: tuple[str, ...]  # distinct approvers that count, in the order they approved
    voided: bool  # the version was rejected: its approvals count for nothing
    source: str  # who may approve, in words

    @property
    def ok(self) -> bool:
        return len(self.have) >= self.need

    def describe(self, short: bool = False) -> str:
        """``has 1 of 2 approvals (alice); 1 more from bob, release-managers (carol, dave)``;
        ``short``: ``has 1 (alice); …``."""
        if self.voided:
            return f"its approvals are void (rejected); needs {self.need} from {self.source}"
        names = f" ({', '.join(self.have)})" if self.have else ""
        of = "" if short else f" of {self.need} approval{'s' if self.need != 1 else ''}"
        text = f"has {len(self.have)}{of}{names}"
        if not self.ok:
            text += f"; {self.need - len(self.have)} more from {self.source}"
        return text

    def passed(self) -> str:
        """``2 of 2 approvals (alice, carol); approvers: alice, bob, …``: a gate it passes."""
        names = f" ({', '.join(self.have)})" if self.have else ""
        plural = "s" if self.need != 1 else ""
        return f"{len(self.have)} of {self.need} approval{plural}{names}; approvers: {self.source}"


def tally(
    state: State, policy: Policy, service: str, version: str, position: int, least: int = 1
) -> Tally:
    """The approvals that count: once per person, from allowed approvers, not by the
    release's author when ``self_approval`` is off, none for a rejected version."""
    gate = policy.gate(position)
    stage = policy.stage_name(position)
    need = max(gate.approvals, least)
    voided = state.is_rejected(service, version) is not None
    have: list[str] = []
    key = same_version(version)
    for a in state.approvals:
        if a.service != service or a.position != position or same_version(a.version) != key:
            continue
        if a.by in have or voided or refusal(state, policy, a) is not None:
            continue
        have.append(a.by)
    return Tally(stage, need, tuple(have), voided, who(policy, gate))


def approved(state: State, policy: Policy, approval: Approval) -> State:
    """``state`` with ``approval`` recorded (once per person, version and stage), or
    ConstraintFailed when its author may not give it."""
    why = refusal(state, policy, approval)
    if why is not None:
        from pipeline_kit.model.constraints import APPROVAL, Violation

        subject = f"{approval.service} {approval.version}→{policy.stage_name(approval.position)}"
        raise ConstraintFailed([Violation(APPROVAL, subject, why)], "approve refused")
    key = same_version(approval.version)
    for a in state.approvals:
        if (a.service, a.position, a.by, same_version(a.version)) == (
            approval.service,
            approval.position,
            approval.by,
            key,
        ):
            return state
    return replace(state, approvals=(*state.approvals, approval))


@dataclass(frozen=True, slots=True)
class Counted:
    """An approval gate one entry passes: the entry's words and its tally."""

    service: str
    version: str
    position: int
    tally: Tally

    @property
    def subject(self) -> str:
        return f"{self.service} {self.version}→{self.tally.stage}"

    def __str__(self) -> str:
        return f"approval {self.subject}: {self.tally.passed()}"


def passed(state: State, policy: Policy, entries: Iterable[Entry]) -> list[Counted]:
    """The approval gates ``entries`` pass in ``state`` (once per version and stage), each
    with how many approvals it has and from whom they may come; failed gates are violations."""
    out: list[Counted] = []
    seen: set[tuple[str, str, int]] = set()
    for entry in entries:
        key = (entry.service, same_version(entry.version), entry.position)
        if entry.position >= len(policy.stages) or entry.signed_off or key in seen:
            continue
        seen.add(key)
        if not policy.gate(entry.position).approval:
            continue
        count = tally(state, policy, entry.service, entry.version, entry.position)
        if count.ok:
            out.append(Counted(entry.service, entry.version, entry.position, count))
    return out
