"""A service tree drawn as SVG: the main service on the left, each edge named on its line."""

from __future__ import annotations

from pipeline_kit.dashboard.layout import esc
from pipeline_kit.model.items import State, Tree
from pipeline_kit.model.policy import Policy

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 170, 40, 160, 24, 10


def _version(state: State, service: str, position: int) -> str:
    svc = state.services.get(service)
    if svc is None:
        return "?"
    found = sorted({s.containers[position].version for s in svc.stacks if position < s.height})
    return " | ".join(found) or "–"


def _layers(tree: Tree) -> dict[str, tuple[int, int]]:
    """Each member's (depth, row): breadth first from the main service, in edge order."""
    place: dict[str, tuple[int, int]] = {tree.service: (0, 0)}
    rows: dict[int, int] = {0: 1}
    frontier = [tree.service]
    while frontier:
        nxt = []
        for parent in frontier:
            for edge in tree.edges:
                if edge.parent == parent and edge.child not in place:
                    depth = place[parent][0] + 1
                    place[edge.child] = (depth, rows.get(depth, 0))
                    rows[depth] = rows.get(depth, 0) + 1
                    nxt.append(edge.child)
        frontier = nxt
    return place


def _xy(spot: tuple[int, int]) -> tuple[int, int]:
    return PAD + spot[0] * (BOX_W + GAP_X), PAD + spot[1] * (BOX_H + GAP_Y)


def _node(name: str, version: str, x: int, y: int) -> str:
    return (
        f'<g class="node" data-service="{esc(name)}">'
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"></rect>'
        f'<text x="{x + 8}" y="{y + 16}">{esc(name)}</text>'
        f'<text x="{x + 8}" y="{y + 32}">{esc(version)}</text></g>'
    )


def svg(tree: Tree, state: State, policy: Policy) -> str:
    """The tree of ``tree.service`` at ``tree.position`` as an inline ``<svg>`` element."""
    place = _layers(tree)
    parts = []
    for edge in tree.edges:
        if edge.parent not in place or edge.child not in place:
            continue
        px, py = _xy(place[edge.parent])
        cx, cy = _xy(place[edge.child])
        x1, y1, x2, y2 = px + BOX_W, py + BOX_H // 2, cx, cy + BOX_H // 2
        label = f"{edge.parent} → {edge.child} @{policy.stage_name(edge.position)}"
        parts.append(
            f'<g class="edge" data-parent="{esc(edge.parent)}" data-child="{esc(edge.child)}" '
            f'data-stage="{esc(policy.stage_name(edge.position))}"><title>{esc(label)}</title>'
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"></line>'
            f'<text class="edge" x="{x1 + 4}" y="{(y1 + y2) // 2 - 4}">'
            f"{esc(label)}</text></g>"
        )
    positions = {e.child: e.position for e in tree.edges}
    for name, spot in sorted(place.items()):
        x, y = _xy(spot)
        parts.append(_node(name, _version(state, name, positions.get(name, tree.position)), x, y))
    depth = max(d for d, _ in place.values()) + 1
    rows = max(r for _, r in place.values()) + 1
    width = PAD * 2 + depth * BOX_W + (depth - 1) * GAP_X
    height = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y
    stage = policy.stage_name(tree.position)
    return (
        f'<svg class="tree" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="service tree of {esc(tree.service)} in {esc(stage)}">'
        + "".join(parts)
        + "</svg>\n"
    )
