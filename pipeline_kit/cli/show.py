"""``show``: the state (names accept * wildcards), as tables or ``--json``."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline_kit.cli.options import Json, settings

Pattern = Annotated[str, typer.Argument()]


def _services(pattern: str, as_json: bool, view: str) -> None:
    from pipeline_kit.cli import render, shapes
    from pipeline_kit.pipeline import views

    config = settings()
    found, around = views.services_around(config, pattern)
    if view == "stacks":
        rows = shapes.stacks_json(found, config.policy)
        if as_json:
            render.emit_json(rows)
            return
        render.stacks_table(rows)
    elif as_json:
        rows = [shapes.service_json(s, config.policy, around) for s in found]
        if view == "containers":  # and the standby ones, out of rotation
            kept = views.standby(config, [s.name for s in found])
            for row in rows:
                row["standby"] = shapes.standby_json(kept, row["name"], config.policy)
        render.emit_json(rows)
        return
    elif view == "containers":
        kept = views.standby(config, [s.name for s in found])
        render.containers_table(found, config.policy, kept)
    else:
        from pipeline_kit.pipeline.signoff import notes

        render.services_table(found, config.policy, around)
        for line in notes(config):
            render.console.print(line, markup=False)
    if config.runtime.kind == "none":
        render.console.print(render.NOT_DEPLOYED, markup=False)


def services(pattern: Pattern = "*", json: Json = False) -> None:
    """Services with their version in every stage."""
    _services(pattern, json, "services")


def service(name: str, json: Json = False) -> None:
    """One service (or those matching a * pattern) with all its containers."""
    _services(name, json, "containers")


def stacks(pattern: Pattern = "*", json: Json = False) -> None:
    """Every stack: service, index, host and versions."""
    _services(pattern, json, "stacks")


def containers(pattern: Pattern = "*", json: Json = False) -> None:
    """Every container: service, stack, position, stage, version."""
    _services(pattern, json, "containers")


def _endpoints(pattern: str, as_json: bool) -> None:
    from pipeline_kit.cli import render, shapes
    from pipeline_kit.pipeline import views

    config = settings()
    found = views.endpoints(config, pattern)
    rows = shapes.endpoints_json(found.state, config.policy, found.names, found.canaries)
    for row, name in zip(rows, found.names, strict=True):
        endpoint = found.state.endpoints[name]
        step = found.steps.get((endpoint.service, endpoint.position))
        if step is not None:
            row["canary_step"] = step
    if as_json:
        render.emit_json(rows)
        return
    render.endpoints_table(rows)
    if config.runtime.kind == "none":
        render.console.print(render.NOT_DEPLOYED, markup=False)


def endpoints(pattern: Pattern = "*", json: Json = False) -> None:
    """Endpoints with their stage and service tree."""
    _endpoints(pattern, json)


def endpoint(name: str, json: Json = False) -> None:
    """One endpoint (or those matching a * pattern)."""
    _endpoints(name, json)


def history(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The last N entries.")] = 50,
    json: Json = False,
) -> None:
    """Applied actions: when, who, what, and the versions per stage after."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline import views

    entries = views.history(settings(), service, limit)
    if json:
        render.emit_json(entries)
    else:
        render.history_table(entries)
