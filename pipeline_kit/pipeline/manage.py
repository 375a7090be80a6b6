"""State management: every write goes load → plan → check → apply, under the service's lock."""

from __future__ import annotations

from pathlib import Path

from pipeline_kit.config import render_default
from pipeline_kit.config_types import Settings
from pipeline_kit.model.constraints import Violation, check_state
from pipeline_kit.model.errors import ConstraintFailed, InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.pipeline import rollout
from pipeline_kit.pipeline.rollout import Build, Outcome
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.store.database import Scope, Store


def open_store(settings: Settings) -> Store:
    return Unit(settings).store


def execute(
    settings: Settings,
    scope: Scope,
    build: Build,
    dry_run: bool = False,
) -> Outcome:
    """Plan under the lock, refuse on any violation, else apply it through the rollout.

    With ``dry_run`` only plan, on a read-only snapshot (violations are in the plan).
    """
    with Unit(settings) as own:
        return rollout.apply(own.rig(), scope, build, dry_run)


def init(settings: Settings, cwd: Path) -> list[str]:
    """Write a config when there is none (in a folder with a Dockerfile, one that declares
    the folder's service) and create the state database."""
    from pipeline_kit.pipeline import scaffold

    done = []
    if settings.source is None:
        path = cwd / "pipeline-kit.toml"
        if scaffold.has_dockerfile(cwd):
            name = scaffold.service_name(cwd)
            path.write_text(scaffold.render_service_config(name))
            done.append(f"wrote {path}: service {name!r}, released from ./Dockerfile")
        else:
            path.write_text(render_default())
            done.append(f"wrote {path}")
    else:
        done.append(f"using {settings.source}")
    store = open_store(settings)
    try:
        store.ensure_schema()
    finally:
        store.dispose()
    done.append(f"state database ready: {store.safe_url}")
    return done


def load_state(settings: Settings, services: list[str] | None = None) -> State:
    """The whole state, or the part around some services, as a read-only snapshot."""
    store = open_store(settings)
    try:
        with store.read() as session:
            if services is None:
                return session.load_all()
            return session.load(Scope(services=frozenset(services)))
    finally:
        store.dispose()


def check(settings: Settings) -> tuple[State, list[Violation]]:
    """The whole state against the configured constraints."""
    state = load_state(settings)
    return state, check_state(state, settings.policy)


def export_state(settings: Settings, path: Path) -> int:
    """Write the whole state to ``path``; the number of services."""
    from pipeline_kit.store.transfer import export_document

    store = open_store(settings)
    try:
        with store.read("export") as session:
            text = export_document(session)
            count = len(session.service_names())
    finally:
        store.dispose()
    try:
        path.write_text(text)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None
    return count


def import_state(settings: Settings, path: Path) -> int:
    """Reproduce an exported environment in an empty database; the number of services."""
    from pipeline_kit.store.transfer import import_document, parse_document

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    state, entries = parse_document(text, str(path))
    violations = check_state(state, settings.policy)
    if violations:
        raise ConstraintFailed(violations, what=f"{path} breaks the configured constraints")
    store = open_store(settings)
    try:
        with store.write(Scope(), "import") as session:
            if not session.is_empty():
                raise InvalidInput(
                    f"state database {store.safe_url} is not empty: import into a new one "
                    "(set PIPELINE_KIT_DB)"
                )
            import_document(session, state, entries)
    finally:
        store.dispose()
    return len(state.services)
