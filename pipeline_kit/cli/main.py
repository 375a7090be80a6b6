"""The ``pipeline-kit`` command: each command parses, calls one function, renders.

Heavy modules (SQLAlchemy, pydantic, rich) are imported inside the commands so that
``--help`` starts fast.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline_kit.cli.errors import run

if TYPE_CHECKING:
    from pipeline_kit.config import Settings
    from pipeline_kit.model.actions import Context
    from pipeline_kit.model.items import State
    from pipeline_kit.model.plan import Plan
    from pipeline_kit.store.database import Scope

app = typer.Typer(
    name="pipeline-kit",
    help="Release engineering: promote versions through the stages of every service stack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
show_app = typer.Typer(help="Show the state (names accept * wildcards).", no_args_is_help=True)
service_app = typer.Typer(help="Add services.", no_args_is_help=True)
stack_app = typer.Typer(help="Scale a service: add or remove a stack.", no_args_is_help=True)
endpoint_app = typer.Typer(help="Add public endpoints.", no_args_is_help=True)
state_app = typer.Typer(help="Export or import the whole state.", no_args_is_help=True)
for sub, name in (
    (show_app, "show"),
    (service_app, "service"),
    (stack_app, "stack"),
    (endpoint_app, "endpoint"),
    (state_app, "state"),
):
    app.add_typer(sub, name=name)

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the exact plan; change nothing.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Stage = Annotated[str, typer.Option("--stage", help="Stage name or position number.")]


def _settings() -> Settings:
    from pipeline_kit import config

    return config.load()


def _scope(
    services: tuple[str, ...] = (), endpoints: tuple[str, ...] = (), ports: tuple[int, ...] = ()
) -> Scope:
    from pipeline_kit.store.database import Scope

    return Scope(frozenset(services), frozenset(endpoints), frozenset(ports))


def _write(scope: Scope, build: Callable[[State, Context], Plan], dry_run: bool) -> None:
    """Run a write through the pipeline and render its plan."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline.manage import execute

    settings = _settings()
    outcome = execute(settings, scope, build, dry_run)
    for note in outcome.notes:
        render.note(note)
    render.plan(outcome.plan, settings.policy, outcome.applied, settings.runtime.kind)
    if outcome.plan.violations:
        raise typer.Exit(1)


def _act(name: str) -> Callable[..., Plan]:
    """The model action called ``name`` (imported on first use)."""
    from pipeline_kit.model import actions

    action: Callable[..., Plan] = getattr(actions, name)
    return action


@app.command()
def init() -> None:
    """Write pipeline-kit.toml (when there is none) and create the state database."""
    from pipeline_kit.pipeline.manage import init as do_init

    for line in do_init(_settings(), Path.cwd()):
        typer.echo(line)


# -- show --------------------------------------------------------------------------------------


def _matching(names: list[str], pattern: str, kind: str) -> list[str]:
    found = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
    if not found and not any(ch in pattern for ch in "*?["):
        from pipeline_kit.model.errors import InvalidInput

        raise InvalidInput(f"unknown {kind} {pattern!r}: see 'pipeline-kit show {kind}s'")
    return found


def _show_services(pattern: str, as_json: bool, view: str = "services") -> None:
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline.manage import load_state

    settings = _settings()
    exact = not any(ch in pattern for ch in "*?[")
    state = load_state(settings, [pattern] if exact else None)
    names = _matching(list(state.services), pattern, "service")
    services = [state.services[n] for n in names]
    if view == "stacks":
        rows = render.stacks_json(services, settings.policy)
        if as_json:
            render.emit_json(rows)
            return
        render.stacks_table(rows)
    elif as_json:
        render.emit_json([render.service_json(s, settings.policy) for s in services])
        return
    elif view == "containers":
        render.containers_table(services, settings.policy)
    else:
        render.services_table(services, settings.policy)
    if settings.runtime.kind == "none":
        render.console.print(render.NOT_DEPLOYED, markup=False)


@show_app.command("services")
def show_services(pattern: Annotated[str, typer.Argument()] = "*", json: Json = False) -> None:
    """Services with their version in every stage."""
    _show_services(pattern, json)


@show_app.command("service")
def show_service(name: str, json: Json = False) -> None:
    """One service (or those matching a * pattern) with all its containers."""
    _show_services(name, json, "containers")


@show_app.command("stacks")
def show_stacks(pattern: Annotated[str, typer.Argument()] = "*", json: Json = False) -> None:
    """Every stack: service, index, host and versions."""
    _show_services(pattern, json, "stacks")


@show_app.command("containers")
def show_containers(pattern: Annotated[str, typer.Argument()] = "*", json: Json = False) -> None:
    """Every container: service, stack, position, stage, version."""
    _show_services(pattern, json, "containers")


def _show_endpoints(pattern: str, as_json: bool) -> None:
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline.manage import canaries, load_state

    settings = _settings()
    state: State = load_state(settings)
    names = _matching(list(state.endpoints), pattern, "endpoint")
    rows = render.endpoints_json(state, settings.policy, names, canaries(settings))
    if as_json:
        render.emit_json(rows)
    else:
        render.endpoints_table(rows)
        if settings.runtime.kind == "none":
            render.console.print(render.NOT_DEPLOYED, markup=False)


@show_app.command("endpoints")
def show_endpoints(pattern: Annotated[str, typer.Argument()] = "*", json: Json = False) -> None:
    """Endpoints with their stage and service tree."""
    _show_endpoints(pattern, json)


@show_app.command("endpoint")
def show_endpoint(name: str, json: Json = False) -> None:
    """One endpoint (or those matching a * pattern)."""
    _show_endpoints(name, json)


@show_app.command("history")
def show_history(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The last N entries.")] = 50,
    json: Json = False,
) -> None:
    """Applied actions: when, who, what, and the versions per stage after."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline.manage import history

    entries = history(_settings(), service, limit)
    if json:
        render.emit_json(entries)
    else:
        render.history_table(entries)


# -- writes ------------------------------------------------------------------------------------


@service_app.command("add")
def service_add(
    name: str,
    image: Annotated[str, typer.Option(help="Image repository, e.g. example/webapp.")],
    stacks: Annotated[int, typer.Option(help="Number of identical stacks.")] = 1,
    version: Annotated[list[str], typer.Option(help="Versions from prod upward; padded.")] = [],  # noqa: B006
    host: Annotated[list[str], typer.Option(help="Hosts for the stacks, round-robin.")] = [],  # noqa: B006
    dry_run: DryRun = False,
) -> None:
    """Add a service with identical stacks (fewer versions than min_height are padded)."""

    hosts = host or [h.name for h in _settings().runtime.hosts]

    def build(state: State, ctx: Context) -> Plan:
        return _act("add_service")(state, ctx, name, image, stacks, version, hosts)

    _write(_scope((name,)), build, dry_run)


@stack_app.command("add")
def stack_add(
    service: str,
    host: Annotated[str | None, typer.Option(help="Host of the new stack.")] = None,
    dry_run: DryRun = False,
) -> None:
    """Add a stack identical to the others."""
    _write(_scope((service,)), lambda s, c: _act("add_stack")(s, c, service, host), dry_run)


@stack_app.command("remove")
def stack_remove(
    service: str,
    stack: Annotated[int | None, typer.Option(help="Stack index (default: the last).")] = None,
    dry_run: DryRun = False,
) -> None:
    """Remove a stack."""
    _write(_scope((service,)), lambda s, c: _act("remove_stack")(s, c, service, stack), dry_run)


@endpoint_app.command("add")
def endpoint_add(
    name: str,
    service: Annotated[str, typer.Option(help="The main service behind it.")],
    port: Annotated[int, typer.Option(help="Public port.")],
    stage: Stage,
    dry_run: DryRun = False,
) -> None:
    """Add an endpoint bound to a stage of a main service."""
    _write(
        _scope((service,), (name,), (port,)),
        lambda s, c: _act("add_endpoint")(s, c, name, service, port, stage),
        dry_run,
    )


@app.command()
def connect(
    parent: str,
    child: Annotated[str, typer.Option(help="Child service.")],
    endpoint: Annotated[str, typer.Option(help="Endpoint whose trees get the edge.")],
    stage: Annotated[str | None, typer.Option(help="Child position in that tree.")] = None,
    dry_run: DryRun = False,
) -> None:
    """Add parent → child to the service trees of an endpoint."""
    _write(
        _scope((parent, child), (endpoint,)),
        lambda s, c: _act("connect")(s, c, parent, child, endpoint, stage),
        dry_run,
    )


@app.command()
def push(service: str, version: str, dry_run: DryRun = False) -> None:
    """Push VERSION onto every stack of SERVICE."""
    _write(_scope((service,)), lambda s, c: _act("push")(s, c, service, version), dry_run)


@app.command()
def pop(service: str, stage: Stage, dry_run: DryRun = False) -> None:
    """Remove STAGE's position from every stack; everything above shifts down one."""
    _write(_scope((service,)), lambda s, c: _act("pop")(s, c, service, stage), dry_run)


@app.command("replace")
def replace_cmd(
    service: str,
    stage: Stage,
    with_: Annotated[str, typer.Option("--with", help="'above' or 'below'.")],
    dry_run: DryRun = False,
) -> None:
    """Replace the container at STAGE by the version above or below it."""
    _write(
        _scope((service,)),
        lambda s, c: _act("replace_stage")(s, c, service, stage, with_),
        dry_run,
    )


@app.command()
def rollback(
    service: str,
    stage: Annotated[str | None, typer.Option(help="Stage (default: the lowest).")] = None,
    to: Annotated[str | None, typer.Option(help="Version (default: the previous one).")] = None,
    dry_run: DryRun = False,
) -> None:
    """Put an older version back into a stage; the bad one is marked rejected."""
    _write(_scope((service,)), lambda s, c: _act("rollback")(s, c, service, stage, to), dry_run)


@app.command()
def switch(endpoint: str, stage: Stage, dry_run: DryRun = False) -> None:
    """Bind ENDPOINT to the tree of another stage."""
    _write(_scope((), (endpoint,)), lambda s, c: _act("switch")(s, c, endpoint, stage), dry_run)


@app.command()
def approve(
    service: str,
    version: str,
    stage: Stage,
    by: Annotated[str, typer.Option("--by", help="Who signs off.")],
    dry_run: DryRun = False,
) -> None:
    """Record that VERSION of SERVICE may enter STAGE."""
    _write(
        _scope((service,)),
        lambda s, c: _act("approve")(s, c, service, version, stage, by),
        dry_run,
    )


@app.command()
def reject(
    service: str,
    version: str,
    reason: Annotated[str, typer.Option(help="Why it must never enter a stage again.")],
    dry_run: DryRun = False,
) -> None:
    """Mark VERSION as rejected: it may never enter a stage again."""
    _write(_scope((service,)), lambda s, c: _act("reject")(s, c, service, version, reason), dry_run)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn every error into one line and an exit code."""
    return run(app, argv)


def _register() -> None:
    from pipeline_kit.cli import deliver, integrate, lb_cmds

    deliver.register(app, _settings)
    integrate.register(app, _settings)
    lb_cmds.register(app, _settings)
    deliver.register_state(state_app, _settings)


_register()
