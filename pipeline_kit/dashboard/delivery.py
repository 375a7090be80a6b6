"""The delivery metrics page: the four DORA figures per service and overall, per window."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline_kit.dashboard.data import SiteData
from pipeline_kit.dashboard.layout import esc, page, row, table
from pipeline_kit.metrics import WINDOWS, Event, Metrics, compute, duration_text, events, rate_text


def by_service(data: SiteData) -> tuple[list[Event], dict[str, list[Event]]]:
    """The events of the most trusted stage, all of them and per service."""
    found = events(data.history, data.policy.stage_name(0))
    grouped: dict[str, list[Event]] = {}
    for e in found:
        grouped.setdefault(e.service, []).append(e)
    return found, grouped


def _cells(m: Metrics) -> list[str]:
    lead = duration_text(m.lead_time)
    return [
        f"{m.deployments} ({m.per_day:.2f}/day)",
        esc(lead) + (f' <span class="small">({m.lead_samples})</span>' if m.lead_samples else ""),
        f"{rate_text(m.failure_rate)} ({m.rollbacks})",
        esc(duration_text(m.restore)),
    ]


def _window(
    data: SiteData, days: int, found: Sequence[Event], grouped: dict[str, list[Event]]
) -> str:
    rows = [row(["<b>all services</b>", *_cells(compute(found, data.now, days, data.commit_time))])]
    for name in sorted(grouped):
        m = compute(grouped[name], data.now, days, data.commit_time)
        if m.deployments or m.rollbacks:
            link = f'<a href="services/{esc(name)}.html">{esc(name)}</a>'
            rows.append(row([link, *_cells(m)], f' data-service="{esc(name)}"'))
    headers = [
        "service",
        "deployments",
        "lead time (median)",
        "change failure rate (rollbacks)",
        "time to restore (median)",
    ]
    return f"<h2>Last {days} days</h2>\n" + table(headers, rows, f"metrics-{days}")


def delivery(data: SiteData) -> str:
    """The page ``metrics.html``."""
    found, grouped = by_service(data)
    stage = data.policy.stage_name(0)
    body = (
        f"<p>Into the most trusted stage, <b>{esc(stage)}</b>, up to "
        f"{esc(data.now.isoformat())}. Lead time runs from the image's commit time to the "
        "promotion; time to restore from the deployment of a version to its rollback. "
        "Services without deployments or rollbacks in a window are not listed.</p>\n"
        + "".join(_window(data, days, found, grouped) for days in WINDOWS)
    )
    return page("delivery metrics", body)
