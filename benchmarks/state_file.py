"""The state file the scale benchmark imports: N services in the export format."""

from __future__ import annotations

from typing import Any

from benchmarks.timing import BenchError
from pipeline_kit.store.transfer import FORMAT, FORMAT_VERSION

STAGES = ("prod", "qa", "dev")
VERSIONS = ("v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0")  # positions 0..3, max_height = 4
NEW_VERSION = "v1.4.0"
STACKS = 2
ENDPOINT_EVERY = 10
EXTRAS_EVERY = 100  # one approval and one rejection per this many services
T0 = "2026-01-01T00:00:00.000000+00:00"
PORT_BASE = 10000


def service_name(i: int, width: int) -> str:
    return f"svc-{i:0{width}d}"


def build_document(n: int) -> dict[str, Any]:
    """A valid state of ``n`` services in the ``pipeline-kit/state`` export format."""
    width = max(4, len(str(n - 1)))
    if n // ENDPOINT_EVERY + PORT_BASE > 65535:
        raise BenchError(f"{n} services need more ports than exist (one endpoint per 10)")
    services: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    endpoints: list[dict[str, Any]] = []
    trees: list[dict[str, Any]] = []
    approvals: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []
    for i in range(n):
        name = service_name(i, width)
        services.append(
            {
                "name": name,
                "image": f"example/{name}",
                "stacks": [
                    {
                        "index": k,
                        "host": f"host-{(i + k) % 16}",
                        "containers": [
                            {
                                "id": f"c{i:0{width}d}s{k}p{pos}",
                                "version": version,
                                "entered": T0,
                                "previous": VERSIONS[pos - 1] if pos else None,
                            }
                            for pos, version in enumerate(VERSIONS)
                        ],
                    }
                    for k in range(STACKS)
                ],
            }
        )
        after = {
            (STAGES[pos] if pos < len(STAGES) else f"#{pos}"): [version] * STACKS
            for pos, version in enumerate(VERSIONS)
        }
        history.append(
            {
                "id": i + 1,
                "at": T0,
                "actor": "bench",
                "action": "service add",
                "args": {
                    "name": name,
                    "image": f"example/{name}",
                    "stacks": STACKS,
                    "versions": list(VERSIONS),
                },
                "changes": {name: {"before": {}, "after": after}},
            }
        )
        if i % ENDPOINT_EVERY == 0:
            endpoints.append(
                {
                    "name": f"ep-{i:0{width}d}",
                    "service": name,
                    "port": PORT_BASE + i // ENDPOINT_EVERY,
                    "position": 0,
                }
            )
            child = service_name(i + 1, width) if i + 1 < n else None
            for pos in range(len(STAGES)):
                edges = [{"parent": name, "child": child, "position": pos}] if child else []
                trees.append({"service": name, "position": pos, "edges": edges})
        if i % EXTRAS_EVERY == 0:
            approvals.append(
                {"service": name, "version": "v1.3.0", "position": 0, "by": "bench", "at": T0}
            )
            rejections.append(
                {
                    "service": name,
                    "version": "v0.9.0",
                    "reason": "bench: known bad",
                    "by": "bench",
                    "at": T0,
                }
            )
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "services": services,
        "endpoints": endpoints,
        "trees": trees,
        "approvals": approvals,
        "rejections": rejections,
        "history": history,
    }


def promote_targets(n: int, count: int) -> list[str]:
    """``count`` distinct services spread over the state (some main services, some not)."""
    width = max(4, len(str(n - 1)))
    if count > n:
        raise BenchError(f"need {count} distinct services to promote, the state has {n}")
    seen: list[int] = []
    k = 0
    while len(seen) < count:
        i = (k * 7919 + 3) % n
        if k % 4 == 0:
            i -= i % ENDPOINT_EVERY  # a main service with an endpoint and trees
        if i not in seen:
            seen.append(i)
        k += 1
    return [service_name(i, width) for i in seen]
