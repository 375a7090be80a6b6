"""A page per service: stacks and hosts, the conveyor of versions, endpoints, trees."""

from __future__ import annotations

from pipeline_kit.dashboard.board import health_class
from pipeline_kit.dashboard.data import SiteData, cell
from pipeline_kit.dashboard.layout import esc, page, row, table
from pipeline_kit.dashboard.tree import svg
from pipeline_kit.model.items import Service


def _stacks(data: SiteData, service: Service) -> str:
    rows = []
    for stack in service.stacks:
        for pos, c in enumerate(stack.containers):
            health = data.health.get(c.id)
            status = health.status if health else "unknown"
            rows.append(
                row(
                    [
                        str(stack.index),
                        esc(stack.host),
                        esc(data.policy.stage_name(pos)),
                        f'<span class="version">{esc(c.version)}</span>',
                        esc(c.address or "–"),
                        f'<span class="{health_class(status)}">{esc(status)}</span>'
                        + (f' <span class="small">{esc(health.at)}</span>' if health else ""),
                    ]
                )
            )
    headers = ["stack", "host", "stage", "version", "address", "last verify"]
    return "<h2>Stacks and hosts</h2>\n" + table(headers, rows)


def _commit(data: SiteData, service: str, version: str) -> tuple[str, str]:
    image = data.image(service, version)
    if not image.revision:
        return "unknown", "–"
    url = image.commit_url()
    short = esc(image.revision[:12])
    link = f'<a href="{esc(url)}">{short}</a>' if url else short
    return link, esc(image.created.isoformat()) if image.created else "–"


def _conveyor(data: SiteData, service: Service) -> str:
    rows = []
    for pos in reversed(range(service.height)):
        c = cell(data, service, pos)
        for version in c.versions:
            commit, created = _commit(data, service.name, version)
            rows.append(
                row(
                    [
                        esc(c.stage),
                        f'<span class="version">{esc(version)}</span>',
                        esc(c.since),
                        commit,
                        created,
                        esc("; ".join(c.gates) or "–"),
                    ]
                )
            )
    headers = ["stage", "version", "there for", "commit", "committed", "gates"]
    note = '<p class="small">From the entry stage (top) to the most trusted one (bottom).</p>\n'
    return "<h2>Conveyor</h2>\n" + note + table(headers, rows, "conveyor")


def _endpoints(data: SiteData, service: Service) -> str:
    found = sorted(data.state.endpoints_of(service.name), key=lambda e: e.name)
    if not found:
        return "<h2>Endpoints</h2>\n<p>None: not a main service.</p>\n"
    rows = [row([esc(e.name), str(e.port), esc(data.policy.stage_name(e.position))]) for e in found]
    return "<h2>Endpoints</h2>\n" + table(["endpoint", "port", "stage"], rows)


def _trees(data: SiteData, service: Service) -> str:
    trees = sorted(data.state.trees_of(service.name), key=lambda t: t.position)
    parents = sorted(
        {e.parent for t in data.state.trees.values() for e in t.edges if e.child == service.name}
    )
    out = "<h2>Service trees</h2>\n"
    if parents:
        links = ", ".join(f'<a href="{esc(p)}.html">{esc(p)}</a>' for p in parents)
        out += f"<p>Called by: {links}</p>\n"
    if not trees:
        return out + "<p>No tree of its own.</p>\n"
    for tree in trees:
        out += f"<h3>{esc(data.policy.stage_name(tree.position))}</h3>\n"
        out += svg(tree, data.state, data.policy)
    return out


def service_page(data: SiteData, service: Service) -> str:
    """The page ``services/NAME.html``."""
    body = (
        f'<p>image <span class="version">{esc(service.image)}</span> · '
        f"{len(service.stacks)} stack(s)</p>\n"
        + _stacks(data, service)
        + _conveyor(data, service)
        + _endpoints(data, service)
        + _trees(data, service)
    )
    return page(f"service {service.name}", body, depth=1)
