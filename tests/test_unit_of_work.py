"""One unit of work per command: a promotion opens the state database, the Docker engines and
HAProxy once, loads its service's state once, reads the whole state once (for routing) and
has HAProxy check its config once. Counted on the real components, by wrapping the methods
that do each of these (the wrapped methods still run)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline_kit.lb.haproxy import HAProxy
from pipeline_kit.runtime.engine import Engines
from pipeline_kit.store.database import Session, Store
from tests.conftest import CLI
from tests.test_lb_promote import routed, stages  # noqa: F401
from tests.test_runtime import clean, webapp_repository  # noqa: F401


def count(monkeypatch: pytest.MonkeyPatch, counts: Counter[str], owner: Any, name: str) -> None:
    """Count the calls of ``owner.name`` (which still runs)."""
    original: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[f"{owner.__name__}.{name}"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    found: Counter[str] = Counter()
    for owner, name in (
        (Session, "load"),
        (Session, "load_all"),
        (Store, "_create_engine"),
        (Engines, "__init__"),
        (HAProxy, "validate"),
    ):
        count(monkeypatch, found, owner, name)
    return found


def test_a_promotion_opens_once_and_validates_once(
    routed: tuple[Path, str],  # noqa: F811
    cli: CLI,
    counts: Counter[str],
) -> None:
    result = cli("promote", "webapp", "--to", "prod")
    assert result.code == 0, result.err
    assert dict(counts) == {
        "Session.load": 1,  # the service's part of the state, under its lock
        # The whole state twice: to validate HAProxy's config of the plan before the commit,
        # and under the routing lock after it, so that what another command committed
        # meanwhile is not switched away.
        "Session.load_all": 2,
        "Store._create_engine": 1,
        "Engines.__init__": 1,
        "HAProxy.validate": 1,
    }
    counts.clear()
    assert stages(cli)["prod"] == "1.1.0"
    assert counts["Session.load"] + counts["Session.load_all"] == 1
    assert counts["Engines.__init__"] == 0 and counts["HAProxy.validate"] == 0


def test_a_write_without_containers_opens_once(
    routed: tuple[Path, str],  # noqa: F811
    cli: CLI,
    counts: Counter[str],
) -> None:
    result = cli("approve", "webapp", "1.1.0", "--stage", "prod", "--by", "alice")
    assert result.code == 0, result.err
    assert counts["Session.load"] == 1 and counts["Store._create_engine"] == 1
    # The whole state before the commit (to validate) and under the routing lock after it.
    assert counts["Session.load_all"] == 2 and counts["HAProxy.validate"] == 1
    assert counts["Engines.__init__"] == 1
