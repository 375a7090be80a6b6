"""Rendering: plans, state tables and JSON. Nothing here reads or writes state."""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Iterable
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console, ConsoleDimensions
from rich.table import Table
from rich.text import Text

from pipeline_kit.cli.shapes import relations, stage_of
from pipeline_kit.model.approvals import passed as approvals_passed
from pipeline_kit.model.constraints import Violation
from pipeline_kit.model.items import Service, State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.report.results import Report
from pipeline_kit.report.summary import rows as stage_rows
from pipeline_kit.report.summary import title as report_title

if TYPE_CHECKING:
    from pipeline_kit.store.journal import Kept

NOT_DEPLOYED = "runtime: none: pipeline-kit records the state; nothing is deployed by pipeline-kit"

# The width of a console that writes to a log or a pipe: in effect unlimited, so a table is
# as wide as its widest row (tables do not expand to the console's width).
LOG_WIDTH = 100_000


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # not a file, or closed
        return False


class LogConsole(Console):
    """A console with the terminal's width on a terminal, and unlimited width elsewhere.

    In a CI log (Jenkins, GitHub Actions) or a pipe there is no terminal to fit: rich would
    assume 80 columns (or ``COLUMNS``) and squeeze tables into them, cutting addresses,
    images and names. Here a table keeps its natural width and every value reads in full.
    """

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if _is_tty(self.file) else ConsoleDimensions(LOG_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self.width, self.height = new_size


console = LogConsole(highlight=False, soft_wrap=True)
notes = LogConsole(stderr=True, highlight=False, soft_wrap=True)


def new_table(title: str, *columns: str, right: Collection[str] = ()) -> Table:
    """A table whose cells fold a value too long for a narrow terminal onto more lines.

    No value is cut (``…``); only a header may be, to keep it on one line. Columns named
    in ``right`` are right-aligned (counts, durations).
    """
    table = Table(title=title)
    for name in columns:
        table.add_column(
            Text(name, overflow="ellipsis", no_wrap=True),
            justify="right" if name in right else "left",
            overflow="fold",
        )
    return table


def emit_json(data: Any) -> None:
    """Indented on a terminal; compact (and several times faster to write) in a pipe."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(data, indent=indent, sort_keys=True) + "\n")


def services_table(services: Iterable[Service], policy: Policy, state: State | None = None) -> None:
    rows = list(services)
    height = max([len(policy.stages), *(svc.height for svc in rows)])
    stages = [policy.stage_name(p) for p in range(height)]
    more = ("parents", "children", "endpoints") if state is not None else ()
    table = new_table("services", "service", "image", "stacks", *stages, *more, right=("stacks",))
    for svc in rows:
        versions = stage_of(svc, policy)
        cells = [versions.get(stage, "-") for stage in stages]
        if state is not None:
            r = relations(svc.name, state, policy)
            ends = [f"{e['name']}:{e['port']}@{e['stage']}" for e in r["endpoints"]]
            cells += [", ".join(r["parents"]) or "-", ", ".join(r["children"]) or "-"]
            cells.append(", ".join(ends) or "-")
        table.add_row(svc.name, svc.image, str(len(svc.stacks)), *cells)
    console.print(table)


def stacks_table(rows: list[dict[str, Any]]) -> None:
    table = new_table("stacks", "service", "stack", "host", "height", "versions (stage=version)")
    for r in rows:
        versions = " ".join(f"{stage}={v}" for stage, v in r["versions"].items())
        table.add_row(r["service"], str(r["index"]), r["host"], str(r["height"]), versions)
    console.print(table)


def containers_table(
    services: Iterable[Service], policy: Policy, standby: Iterable[Kept] = ()
) -> None:
    """Every container of ``services``; standby ones (out of rotation) marked as such."""
    table = new_table(
        "containers",
        *("service", "stack", "host", "position", "stage", "version", "id", "address", "since"),
    )
    for svc in services:
        for stack in svc.stacks:
            for pos, c in enumerate(stack.containers):
                table.add_row(
                    svc.name,
                    str(stack.index),
                    stack.host,
                    str(pos),
                    policy.stage_name(pos),
                    c.version,
                    c.id,
                    c.address or "-",
                    c.entered.strftime("%Y-%m-%d %H:%M:%S"),
                )
    for k in standby:
        stage = f"{policy.stage_name(k.position)} (standby)"
        row = (k.service, str(k.stack), k.host, str(k.position), stage, k.version, k.id)
        table.add_row(*row, k.address, "-")
    console.print(table)


def endpoints_table(rows: list[dict[str, Any]]) -> None:
    table = new_table("endpoints", "endpoint", "service", "port", "stage", "weights", "tree")
    for r in rows:
        tree = ", ".join(f"{e['parent']} → {e['child']}@{e['stage']}" for e in r["tree"]) or "-"
        shares = ", ".join(f"{v} {w}%" for v, w in r["weights"].items()) or "-"
        if "canary_step" in r:
            shares += f"; canary step {r['canary_step']}"
        stage = r["stage"] if r["home"] == r["stage"] else f"{r['stage']} (home {r['home']})"
        table.add_row(r["name"], r["service"], str(r["port"]), stage, shares, tree)
    console.print(table)


def history_table(entries: list[dict[str, Any]]) -> None:
    table = new_table("history", "#", "when", "who", "action", "arguments", "after")
    for h in entries:
        args = " ".join(f"{k}={v}" for k, v in sorted(h["args"].items()) if v is not None)
        after = "; ".join(
            f"{svc}: "
            + " ".join(f"{stage}={'|'.join(sorted(set(v)))}" for stage, v in c["after"].items())
            for svc, c in sorted(h["changes"].items())
        )
        table.add_row(str(h["id"]), h["at"][:19], h["actor"], h["action"], args, after)
    console.print(table)


def stage_table(report: Report) -> None:
    """The per-stage summary every reporting command ends with."""
    verdict = "passed" if report.ok else "failed"
    table = new_table(
        f"{report_title(report)}: {verdict}",
        *("stage", "version", "checks", "passed", "failed", "seconds", "result"),
        right=("checks", "passed", "failed", "seconds"),
    )
    for row in stage_rows(report):
        table.add_row(
            row.stage or "-",
            row.version or "-",
            str(row.checks),
            str(row.passed),
            str(row.failed),
            f"{row.seconds:.2f}",
            row.verdict,
        )
    console.print(table)


def note(text: str) -> None:
    """One line on stderr that tells what happened besides the command's own output."""
    notes.print(text, markup=False)


def violations(items: Iterable[Violation]) -> None:
    for v in items:
        console.print(f"  ✗ {v}", markup=False)


def plan(
    plan: Plan,
    policy: Policy,
    applied: bool,
    runtime: str = "none",
    verdict: str | None = None,
    configs: Iterable[str] = (),
) -> None:
    """The exact plan: per stack, per position, old → new; operations; the configuration of
    the containers it starts (secrets by name only); violations."""
    args = " ".join(f"{k}={v}" for k, v in plan.args.items() if v is not None)
    console.print(f"plan: {plan.action} {args}", markup=False)
    current: tuple[str, int] | None = None
    changes = plan.changes()
    for change in changes:
        if (change.service, change.stack) != current:
            current = (change.service, change.stack)
            console.print(f"  {change.service} stack {change.stack}", markup=False)
        old, new = change.old or "-", change.new or "-"
        mark = "" if old != new else "  (same version)"
        console.print(
            f"    {policy.stage_name(change.position):<6} {old} → {new}{mark}", markup=False
        )
    changed = _non_stack_changes(plan, policy)
    for line in changed:
        console.print(f"  {line}", markup=False)
    if not changes and not changed:
        console.print("  no change", markup=False)
    for op in plan.operations:
        console.print(
            f"  {op.kind} {op.service}/{op.stack} {op.version} at "
            f"{policy.stage_name(op.position)} (container {op.container})",
            markup=False,
        )
    if plan.operations and runtime == "none":
        console.print("  (runtime none: operations are recorded, not run)", markup=False)
    for line in configs:
        console.print(f"  configuration: {line}", markup=False)
    for gate in approvals_passed(plan.after, policy, plan.entries):
        console.print(f"  {gate}", markup=False)
    if plan.violations:
        console.print(f"refused: {len(plan.violations)} violation(s)", markup=False)
        violations(plan.violations)
    elif verdict is not None:
        console.print(verdict, markup=False)
    elif applied:
        console.print("applied", markup=False)
    else:
        console.print("dry run: nothing changed", markup=False)


def _non_stack_changes(plan: Plan, policy: Policy) -> list[str]:
    before, after = plan.before, plan.after
    lines = []
    for name in sorted(set(before.endpoints) | set(after.endpoints)):
        old, new = before.endpoints.get(name), after.endpoints.get(name)
        if old != new and new is not None:
            was = f" (was {policy.stage_name(old.position)})" if old else ""
            lines.append(
                f"endpoint {name}: {new.service}@{policy.stage_name(new.position)} "
                f"port {new.port}{was}"
            )
    for key in sorted(set(after.trees) - set(before.trees)):
        lines.append(f"tree {key[0]}@{policy.stage_name(key[1])}: new")
    for key in sorted(after.trees):
        old_tree = before.trees.get(key)
        for edge in after.trees[key].edges:
            if old_tree is not None and edge not in old_tree.edges:
                lines.append(
                    f"tree {key[0]}@{policy.stage_name(key[1])}: "
                    f"{edge.parent} → {edge.child}@{policy.stage_name(edge.position)}"
                )
    for a in after.approvals:
        if a not in before.approvals:
            lines.append(
                f"approval: {a.service} {a.version} may enter {policy.stage_name(a.position)} "
                f"(by {a.by})"
            )
    for r in after.rejections:
        if r not in before.rejections:
            lines.append(f"rejected: {r.service} {r.version} ({r.reason})")
    for h in (*after.holds, *before.holds):
        if (h in after.holds) != (h in before.holds):
            verb = "frozen" if h in after.holds else "unfrozen"
            lines.append(
                f"{verb}: {policy.stage_name(h.position)} for {h.service or 'every service'}"
            )
    return lines
