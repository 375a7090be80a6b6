"""Delivery metrics: a constructed history computed by hand, and ``show metrics``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline_kit.metrics import compute, events
from tests.conftest import CLI

NOW = datetime(2026, 4, 1, tzinfo=UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _entry(n: int, at: str, action: str, service: str, before: str, after: str) -> dict[str, Any]:
    """A history entry that moves ``service``'s prod from ``before`` to ``after``."""
    return {
        "id": n,
        "at": _at(at).isoformat(),
        "actor": "tester",
        "action": action,
        "args": {"service": service},
        "changes": {
            service: {
                "before": {"prod": [before, before], "qa": ["9.0.0", "9.0.0"]},
                "after": {"prod": [after, after], "qa": ["9.0.0", "9.0.0"]},
            }
        },
    }


HISTORY = [
    _entry(1, "2026-02-01T00:00", "promote", "api", "1.9.0", "2.0.0"),
    _entry(2, "2026-03-10T00:00", "promote", "web", "1.0.0", "1.1.0"),
    _entry(3, "2026-03-20T00:00", "promote", "web", "1.1.0", "1.2.0"),
    _entry(4, "2026-03-20T02:00", "rollback", "web", "1.2.0", "1.1.0"),
    _entry(5, "2026-03-28T00:00", "promote", "api", "2.0.0", "2.1.0"),
    _entry(6, "2026-03-29T00:00", "promote", "web", "1.1.0", "1.1.0"),  # into qa: prod unchanged
    _entry(7, "2026-03-30T00:00", "release", "db", "3.0.0", "3.1.0"),  # no commit time known
    _entry(8, "2026-03-31T00:00", "rollback", "db", "3.1.0", "3.0.0"),
    {
        "id": 9,
        "at": _at("2026-03-31T01:00").isoformat(),
        "actor": "t",
        "action": "connect",
        "args": {},
        "changes": {},
    },
]
COMMITS = {
    ("api", "2.0.0"): _at("2026-01-31T00:00"),  # lead 1 day
    ("web", "1.1.0"): _at("2026-03-09T12:00"),  # lead 12 h
    ("web", "1.2.0"): _at("2026-03-19T18:00"),  # lead 6 h
    ("api", "2.1.0"): _at("2026-03-27T00:00"),  # lead 1 day
}


def commit_time(service: str, version: str) -> datetime | None:
    return COMMITS.get((service, version))


def test_the_four_figures_match_the_hand_computed_ones() -> None:
    found = events(HISTORY, "prod")
    assert [(e.service, e.kind) for e in found] == [
        ("api", "deploy"),
        ("web", "deploy"),
        ("web", "deploy"),
        ("web", "rollback"),
        ("api", "deploy"),
        ("db", "deploy"),
        ("db", "rollback"),
    ]
    week = compute(found, NOW, 7, commit_time)  # from 03-25: api 2.1.0, db 3.1.0, db's rollback
    assert (week.deployments, week.per_day, week.lead_time, week.lead_samples) == (
        2,
        2 / 7,
        86400,
        1,
    )
    assert (week.rollbacks, week.failure_rate, week.restore) == (1, 0.5, 86400)
    month = compute(found, NOW, 30, commit_time)  # from 03-02: 4 deployments, 2 rollbacks
    assert (month.deployments, month.per_day) == (4, 4 / 30)
    assert (month.lead_time, month.lead_samples) == (43200, 3)  # median of 12 h, 6 h, 1 day
    assert (month.rollbacks, month.failure_rate) == (2, 0.5)
    assert month.restore == (2 * 3600 + 86400) / 2  # median of 2 h and 1 day
    quarter = compute(found, NOW, 90, commit_time)  # api's 2.0.0 of 02-01 counts too
    assert (quarter.deployments, quarter.lead_samples) == (5, 4)
    assert quarter.lead_time == (43200 + 86400) / 2  # median of 6 h, 12 h, 1 day, 1 day
    assert (quarter.failure_rate, quarter.restore) == (2 / 5, month.restore)
    web = compute(found, NOW, 30, commit_time, "web")
    assert (web.deployments, web.lead_time, web.rollbacks, web.failure_rate, web.restore) == (
        2,
        (43200 + 21600) / 2,
        1,
        0.5,
        7200,
    )
    none = compute(found, NOW, 30, commit_time, "nothing")
    assert (none.deployments, none.failure_rate, none.lead_time, none.restore) == (
        0,
        None,
        None,
        None,
    )


def test_the_window_ends_at_now_and_excludes_its_start() -> None:
    found = events(HISTORY, "prod")
    at_start = compute(found, _at("2026-03-17T00:00"), 7, commit_time)  # 03-10 is the start
    assert at_start.deployments == 0
    later = compute(found, _at("2026-03-10T00:00") + timedelta(days=7, seconds=-1), 7, commit_time)
    assert later.deployments == 1


def _shop(cli: CLI) -> None:
    for args in (
        ("init",),
        ("service", "add", "web", "--image", "example/web", "--version", "1.0.0",
         "--version", "1.1.0", "--version", "1.2.0"),
        ("promote", "web", "--to", "prod"),
        ("rollback", "web", "--stage", "prod"),
    ):  # fmt: skip
        result = cli(*args)
        assert result.code == 0, result.err


def test_show_metrics_counts_the_promotion_and_the_rollback(project: Path, cli: CLI) -> None:
    _shop(cli)
    result = cli("show", "metrics", "web", "--days", "7", "--json")
    assert result.code == 0, result.err
    found = json.loads(result.out)
    assert found["stage"] == "prod"
    web = found["services"]["web"]
    assert (web["deployments"], web["rollbacks"], web["change_failure_rate"]) == (1, 1, 1.0)
    assert web["lead_time_seconds"] is None  # no registry: no commit time
    assert web["time_to_restore_seconds"] >= 0
    table = cli("show", "metrics")
    assert table.code == 0 and "web" in table.out and "100%" in table.out
    later = cli("show", "metrics", "--json", "--now", "2099-01-01T00:00:00Z")
    assert json.loads(later.out)["overall"]["deployments"] == 0


def test_bad_input_is_one_line_and_exit_2(project: Path, cli: CLI, tmp_path: Path) -> None:
    _shop(cli)
    afile = tmp_path / "afile"
    afile.write_text("")
    cases = [
        (("show", "metrics", "--days", "0"), "invalid --days 0"),
        (("show", "metrics", "nope"), "unknown service 'nope'"),
        (("show", "metrics", "--now", "yesterday"), "invalid --now 'yesterday'"),
        (("dashboard", "--out", str(afile / "site")), "is not a writable folder"),
        (("dashboard", "--out", "/proc/pipeline-kit-site"), "is not a writable folder"),
    ]
    for args, words in cases:
        result = cli(*args)
        assert result.code == 2, (args, result.err)
        assert result.err.count("\n") == 1 and words in result.err, result.err
