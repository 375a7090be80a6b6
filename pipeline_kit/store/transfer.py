"""``state export`` / ``state import``: the whole environment as one versioned JSON document."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import insert, text

from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import State, check_host, check_image, check_name
from pipeline_kit.store import codec, freezes
from pipeline_kit.store import tables as t
from pipeline_kit.store.database import Session

FORMAT = "pipeline-kit/state"
FORMAT_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Container(_Strict):
    id: str = Field(min_length=1, max_length=64)
    version: str = Field(max_length=128)
    entered: str
    previous: str | None = None
    address: str | None = Field(default=None, max_length=300)


class _Stack(_Strict):
    index: int = Field(ge=0)
    host: str
    containers: list[_Container]


class _Service(_Strict):
    name: str
    image: str
    stacks: list[_Stack]


class _Endpoint(_Strict):
    name: str
    service: str
    port: int = Field(ge=1, le=65535)
    position: int = Field(ge=0)
    home: int | None = Field(default=None, ge=0)  # absent in older exports: ``position``


class _Edge(_Strict):
    parent: str
    child: str
    position: int = Field(ge=0)


class _Tree(_Strict):
    service: str
    position: int = Field(ge=0)
    edges: list[_Edge]


class _Approval(_Strict):
    service: str
    version: str
    position: int = Field(ge=0)
    by: str
    at: str


class _Rejection(_Strict):
    service: str
    version: str
    reason: str
    by: str
    at: str


class _Hold(_Strict):
    service: str | None
    position: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=500)
    by: str
    at: str


class _Author(_Strict):
    service: str
    version: str
    author: str = Field(max_length=300)
    at: str


class _History(_Strict):
    id: int
    at: str
    actor: str
    action: str
    args: dict[str, Any]
    changes: dict[str, Any]


class _Document(_Strict):
    format: str
    format_version: int
    services: list[_Service]
    endpoints: list[_Endpoint]
    trees: list[_Tree]
    approvals: list[_Approval]
    rejections: list[_Rejection]
    history: list[_History]
    holds: list[_Hold] = []
    authors: list[_Author] = []


def export_document(session: Session) -> str:
    """The whole state and history as deterministic JSON text (same state, same bytes)."""
    state = session.load_all()
    services = []
    for name in sorted(state.services):
        row, stacks, containers = codec.service_rows(state.services[name])
        services.append(
            {
                **row,
                "stacks": [
                    {
                        "index": s["idx"],
                        "host": s["host"],
                        "containers": [
                            {
                                k: c[k]
                                for k in ("id", "version", "entered", "previous", "address")
                                if k != "address" or c[k] is not None
                            }
                            for c in containers
                            if c["stack"] == s["idx"]
                        ],
                    }
                    for s in stacks
                ],
            }
        )
    trees = []
    for key in sorted(state.trees):
        row, edges = codec.tree_rows(state.trees[key])
        trees.append(
            {
                **row,
                "edges": [
                    {"parent": e["parent"], "child": e["child"], "position": e["child_position"]}
                    for e in edges
                ],
            }
        )
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "services": services,
        "endpoints": [codec.endpoint_row(state.endpoints[n]) for n in sorted(state.endpoints)],
        "trees": trees,
        "approvals": [codec.approval_row(a) for a in state.approvals],
        "rejections": [codec.rejection_row(r) for r in state.rejections],
        "history": session.history(),
        "holds": [freezes.hold_row(h) for h in state.holds],
        "authors": [freezes.author_row(a) for a in state.authors],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def parse_document(text: str, source: str) -> tuple[State, list[dict[str, Any]]]:
    """Validate an export file; the state it holds and its history entries."""
    doc = _validated(text, source)
    try:
        state = _state_of(doc)
        for service in state.services.values():
            check_name("service", service.name)
            check_image(service.image)
            for stack in service.stacks:
                check_host(stack.host)
        for endpoint in state.endpoints.values():
            check_name("endpoint", endpoint.name)
    except (ValueError, InvalidInput) as exc:
        raise InvalidInput(f"{source}: invalid state file: {exc}") from None
    return state, [h.model_dump() for h in doc.history]


def _validated(text: str, source: str) -> _Document:
    """The document of an export file, its format and shape checked."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{source}: not a pipeline-kit state file: invalid JSON at line {exc.lineno} "
            f"({exc.msg}); truncated?"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInput(f"{source}: not a pipeline-kit state file (no format {FORMAT!r})")
    if data.get("format_version") != FORMAT_VERSION:
        raise InvalidInput(
            f"{source}: state format version {data.get('format_version')!r} is not supported "
            f"(this pipeline-kit reads {FORMAT_VERSION})"
        )
    try:
        return _Document.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(
            f"{source}: invalid state file at {where}: {first['msg']} "
            f"({exc.error_count()} problem{'s' if exc.error_count() != 1 else ''})"
        ) from None


def _state_of(doc: _Document) -> State:
    """The state a validated document holds (ValueError when its parts do not fit)."""
    stacks = [(s, k) for s in doc.services for k in s.stacks]
    edges = [(tr, seq, e) for tr in doc.trees for seq, e in enumerate(tr.edges)]
    state = codec.build_state(
        [{"name": s.name, "image": s.image} for s in doc.services],
        [{"service": s.name, "idx": k.index, "host": k.host} for s, k in stacks],
        [
            {"service": s.name, "stack": k.index, "position": pos, **c.model_dump()}
            for s, k in stacks
            for pos, c in enumerate(k.containers)
        ],
        # An older export has no home stage: each endpoint's is the stage it points at.
        [
            {**e.model_dump(), "home": e.position if e.home is None else e.home}
            for e in doc.endpoints
        ],
        [{"service": tr.service, "position": tr.position} for tr in doc.trees],
        [
            {
                "service": tr.service,
                "position": tr.position,
                "seq": seq,
                "parent": e.parent,
                "child": e.child,
                "child_position": e.position,
            }
            for tr, seq, e in edges
        ],
        [a.model_dump() for a in doc.approvals],
        [r.model_dump() for r in doc.rejections],
    )
    return replace(
        state,
        holds=freezes.build_holds(h.model_dump() for h in doc.holds),
        authors=freezes.build_authors(a.model_dump() for a in doc.authors),
    )


def import_document(session: Session, state: State, history: list[dict[str, Any]]) -> None:
    """Write a parsed export into an empty database."""
    session.write_state(State(), state)
    if history:
        session.conn.execute(
            insert(t.history),
            [
                {
                    "id": h["id"],
                    "at": h["at"],
                    "actor": h["actor"],
                    "action": h["action"],
                    "services": "," + ",".join(sorted(h["changes"])) + ",",
                    "args": json.dumps(h["args"], sort_keys=True),
                    "changes": json.dumps(h["changes"], sort_keys=True),
                }
                for h in history
            ],
        )
        if session.conn.dialect.name == "postgresql":  # ids were given: move the sequence on
            session.conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('pk_history', 'id'), "
                    "(SELECT max(id) FROM pk_history))"
                )
            )
