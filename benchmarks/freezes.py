"""What approval policies and freezes cost a promotion, side by side with a baseline.

On a SQLite state of ``--services`` services (each with a recorded author and two
approvals, and ``--holds`` immediate freezes of other services), in-process, median of
``--repeat`` runs:

* the scoped load of one service (``Session.load``), and the part of it that reads the
  freezes and authors (``freezes.attach``): the baseline is the load without that part;
* planning ``promote SVC --to prod`` with no policy (baseline) and with a two-approver
  policy, groups and two ``[[freeze]]`` windows (one weekly, in a time zone).

It prints figures; it asserts nothing about time.

    .venv/bin/python -m benchmarks.freezes [--services 1000] [--holds 20] [--repeat 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.timing import BenchError, median_inproc, run_guarded
from pipeline_kit.model import actions
from pipeline_kit.model.actions import Context
from pipeline_kit.model.freeze import Window
from pipeline_kit.model.items import Approval, Authored, Hold, State
from pipeline_kit.model.policy import Gate, Policy
from pipeline_kit.store import freezes
from pipeline_kit.store.database import Scope, Store

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday: no window covers it


def _policies() -> tuple[Policy, Policy]:
    plain = Policy()
    gate = Gate(approval=True, approvals=2, approvers=("alice", "leads"), self_approval=False)
    windows = (
        Window(
            ("prod",),
            "year-end",
            datetime(2026, 12, 20, tzinfo=UTC),
            datetime(2027, 1, 4, tzinfo=UTC),
        ),
        Window(("prod",), "weekend", weekly=(5, 6), timezone="Europe/Helsinki"),
    )
    return plain, replace(plain, gates={"prod": gate}, groups={"leads": ("bob",)}, freezes=windows)


def _state(services: int, holds: int, policy: Policy) -> State:
    ctx = Context(policy, NOW)
    state = State()
    for i in range(services):
        state = actions.add_service(state, ctx, f"svc-{i:05d}", "x/svc", 2, ["v1.0.0"]).after
    authors = tuple(Authored(f"svc-{i:05d}", "v1.0.0", "Eve <eve@x>", NOW) for i in range(services))
    approvals = tuple(
        Approval(f"svc-{i:05d}", "v1.0.0", 0, who, NOW)
        for i in range(services)
        for who in ("alice", "bob")
    )
    held = tuple(Hold(f"svc-{i:05d}", 0, "incident", "ops", NOW) for i in range(1, holds + 1))
    return replace(state, authors=authors, approvals=approvals, holds=held)


def body(services: int, holds: int, repeat: int) -> None:
    if services < holds + 1:
        raise BenchError("--services must exceed --holds")
    plain, strict = _policies()
    state = _state(services, holds, strict)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'state.db'}")
        with store.write(Scope(), "import") as session:
            session.write_state(State(), state)
        with store.read() as session:
            one = Scope(frozenset({"svc-00000"}))
            load = median_inproc(lambda: session.load(one), repeat)
            attach = median_inproc(
                lambda: freezes.attach(session.conn, State(), ["svc-00000"]), repeat
            )
            loaded = session.load(one)
        store.dispose()
    timings = []
    for policy in (plain, strict):
        ctx = Context(policy, NOW)
        timings.append(
            median_inproc(
                lambda ctx=ctx: actions.promote(loaded, ctx, "svc-00000", "prod", "v1.1.0"), repeat
            )
        )
    print(f"state: {services} services, {holds} immediate freezes, {2 * services} approvals")
    print(f"{'operation':<52} {'baseline ms':>12} {'with ms':>9} {'added ms':>9}")
    rows = [
        ("load one service (without / with freezes+authors)", load - attach, load),
        ("plan promote --to prod (no policy / policy+freezes)", timings[0], timings[1]),
    ]
    for name, base, with_ in rows:
        print(f"{name:<52} {base * 1000:>12.3f} {with_ * 1000:>9.3f} {(with_ - base) * 1000:>9.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--holds", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    return run_guarded(lambda: body(args.services, args.holds, args.repeat))


if __name__ == "__main__":
    sys.exit(main())
