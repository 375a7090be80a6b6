"""The ``pipeline-kit`` command: the command groups and where each command lives.

Every command is a top-level function in one module per group; each parses, calls one
function of ``pipeline/``, and renders. Heavy modules (SQLAlchemy, docker, rich) are
imported inside the commands, so ``--help`` starts fast.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable

import typer

from pipeline_kit.cli import dashboard, deliver, edit, freeze, hosts, lb, promote, show, state
from pipeline_kit.cli.errors import run

app = typer.Typer(
    name="pipeline-kit",
    help="Release engineering: promote versions through the stages of every service stack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _group(name: str, help_text: str) -> typer.Typer:
    group = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group


show_app = _group("show", "Show the state (names accept * wildcards).")
service_app = _group("service", "Add services.")
stack_app = _group("stack", "Scale a service: add or remove a stack.")
endpoint_app = _group("endpoint", "Add public endpoints.")
state_app = _group("state", "Export or import the whole state.")
lb_app = _group("lb", "The HAProxy in front of the endpoints.")
host_app = _group("host", "The Docker hosts: list them, drain one for maintenance.")

app.command()(edit.init)
Command = Callable[..., None]
shown: tuple[tuple[str, Command], ...] = (
    ("services", show.services),
    ("service", show.service),
    ("stacks", show.stacks),
    ("containers", show.containers),
    ("endpoints", show.endpoints),
    ("endpoint", show.endpoint),
    ("history", show.history),
    ("metrics", dashboard.metrics),
    ("freezes", freeze.freezes),
)
for name, command in shown:
    show_app.command(name)(command)
service_app.command("add")(edit.service_add)
stack_app.command("add")(edit.stack_add)
stack_app.command("remove")(edit.stack_remove)
endpoint_app.command("add")(edit.endpoint_add)
top: tuple[tuple[str, Command], ...] = (
    ("connect", edit.connect),
    ("push", edit.push),
    ("pop", edit.pop),
    ("replace", edit.replace_stage),
    ("rollback", edit.rollback),
    ("switch", edit.switch),
    ("approve", edit.approve),
    ("reject", edit.reject),
    ("freeze", freeze.freeze),
    ("unfreeze", freeze.unfreeze),
    ("promote", promote.promote),
    ("check", promote.check),
    ("release", deliver.release),
    ("deploy", deliver.deploy),
    ("verify", deliver.verify),
    ("upstream", deliver.upstream),
    ("dashboard", dashboard.dashboard),
)
for name, command in top:
    app.command(name)(command)
state_app.command("export")(state.export)
state_app.command("import")(state.import_)
lb_app.command("render")(lb.render_config)
lb_app.command("apply")(lb.apply)
lb_app.command("status")(lb.status)
host_app.command("list")(hosts.list_hosts)
host_app.command("drain")(hosts.drain)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn every error into one line and an exit code."""
    return run(app, argv)


def entry() -> None:
    """The console script (and ``python -m pipeline_kit``): ``main``, then exit at once.

    A command is a short-lived process. The cyclic collector stays off while it runs (what it
    allocates goes with the process; a whole-state load switches it off anyway), and once the
    output is flushed the interpreter's teardown, about 0.07 s of freeing objects one by one,
    is skipped: every file and connection is closed by then, and nothing registers atexit
    work that must run.
    """
    gc.disable()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
