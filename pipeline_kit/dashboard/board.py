"""The board: one row per service, one column per stage in the configured order."""

from __future__ import annotations

from pipeline_kit.dashboard.data import Cell, SiteData, cell
from pipeline_kit.dashboard.layout import esc, page, table


def health_class(health: str) -> str:
    if health == "healthy":
        return "health-healthy"
    return "health-unknown" if health == "unknown" else "health-bad"


def _cell_html(c: Cell) -> str:
    if not c.versions:
        return '<td class="cell" data-stage="' + esc(c.stage) + '">–</td>'
    versions = "|".join(esc(v) for v in c.versions)
    parts = [
        f'<div class="version">{versions}</div>',
        f'<div class="since">for {esc(c.since)}</div>',
    ]
    if c.weights:
        shares = " · ".join(f"{esc(v)} {w}%" for v, w in c.weights)
        parts.append(f'<div class="weights">canary: {shares}</div>')
    parts.append(f'<div class="{health_class(c.health)}">health: {esc(c.health)}</div>')
    if c.gates:
        parts.append(
            '<ul class="gates">' + "".join(f"<li>{esc(g)}</li>" for g in c.gates) + "</ul>"
        )
    klass = "cell warn" if c.warn else "cell"
    return f'<td class="{klass}" data-stage="{esc(c.stage)}">{"".join(parts)}</td>'


def board(data: SiteData) -> str:
    """The board page (``index.html``)."""
    height = data.height()
    stages = [data.policy.stage_name(p) for p in range(height)]
    rows = []
    for name in sorted(data.state.services):
        service = data.state.services[name]
        link = f'<a href="services/{esc(name)}.html">{esc(name)}</a>'
        cells = "".join(_cell_html(cell(data, service, p)) for p in range(height))
        rows.append(f'<tr data-service="{esc(name)}"><th>{link}</th>{cells}</tr>\n')
    body = (
        '<input id="filter" type="search" placeholder="filter by service name" '
        'aria-label="filter by service name">\n'
        f'<p class="small">{len(rows)} service(s) · as of {esc(data.now.isoformat())}</p>\n'
        + table(["service", *stages], rows, "board")
    )
    return page("board", body, script=True)
