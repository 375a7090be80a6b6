"""No path around the gates: whatever puts versions in front of a stage's traffic passes its gates.

``switch``, ``connect --stage``, ``replace`` and ``rollback --to`` can put the versions of
another stage in front of an endpoint's users; each is refused (exit 1, every violation
listed, nothing changed) unless those versions pass the gates of the endpoint's stage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import CLI
from tests.test_lb_promote import NEW, OLD, routed  # noqa: F401
from tests.test_runtime import clean, webapp_repository  # noqa: F401

Snapshot = Callable[[], str]

GATED = """\
stages = ["prod", "qa", "dev"]
versions = "non-decreasing"

[gates.prod]
approval = true
prereleases = false
"""


def _ok(cli: CLI, *args: str) -> None:
    result = cli(*args)
    assert result.code == 0, (args, result.err)


def _add(cli: CLI, name: str, *versions: str) -> None:
    flags = [part for version in versions for part in ("--version", version)]
    _ok(cli, "service", "add", name, "--image", f"example/{name}", *flags)


@pytest.fixture
def shop(project: Path, cli: CLI) -> Path:
    """webapp behind endpoint ``web`` (prod), with api as its child; api's qa/dev is rejected."""
    (project / "pipeline-kit.toml").write_text(GATED)
    _ok(cli, "init")
    _add(cli, "webapp", "v1.0.0", "v1.1.0", "v1.2.0-rc.1")
    _add(cli, "api", "v2.0.0", "v2.1.0", "v2.1.0")
    _ok(cli, "endpoint", "add", "web", "--service", "webapp", "--port", "8080", "--stage", "prod")
    _ok(cli, "connect", "webapp", "--child", "api", "--endpoint", "web")
    _ok(cli, "reject", "api", "v2.1.0", "--reason", "broken")
    return project


def _refused(cli: CLI, snapshot: Snapshot, *args: str) -> list[str]:
    """Run a command that must be refused; its violation lines (nothing may change)."""
    before = snapshot()
    result = cli(*args)
    assert result.code == 1, (args, result.out, result.err)
    assert snapshot() == before
    return [line for line in (result.out + result.err).splitlines() if "→prod" in line]


def _has(lines: list[str], *words: str) -> bool:
    return any(all(word in line for word in words) for line in lines)


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (
            "qa",
            [
                ("webapp v1.1.0→prod", "needs an approval"),
                ("api v2.1.0→prod", "rejected: broken"),
                ("api v2.1.0→prod", "needs an approval"),
            ],
        ),
        (
            "dev",
            [
                ("webapp v1.2.0-rc.1→prod", "pre-releases may not enter prod"),
                ("webapp v1.2.0-rc.1→prod", "needs an approval"),
                ("api v2.1.0→prod", "rejected: broken"),
                ("api v2.1.0→prod", "needs an approval"),
            ],
        ),
    ],
)
def test_switching_the_prod_endpoint_lists_every_violation_and_changes_nothing(
    shop: Path, cli: CLI, snapshot: Snapshot, stage: str, expected: list[tuple[str, str]]
) -> None:
    lines = _refused(cli, snapshot, "switch", "web", "--stage", stage)
    for words in expected:
        assert _has(lines, *words), (words, lines)
    (endpoint,) = json.loads(cli("show", "endpoints", "--json").out)
    assert endpoint["stage"] == "prod"


def test_a_switch_whose_versions_pass_the_gates_is_applied(
    project: Path, cli: CLI, snapshot: Snapshot
) -> None:
    (project / "pipeline-kit.toml").write_text(GATED)
    _ok(cli, "init")
    _add(cli, "webapp", "v1.0.0", "v1.1.0", "v1.1.0")
    _ok(cli, "endpoint", "add", "web", "--service", "webapp", "--port", "8080", "--stage", "prod")
    lines = _refused(cli, snapshot, "switch", "web", "--stage", "qa")
    assert len(lines) == 1 and _has(lines, "webapp v1.1.0→prod", "approve webapp v1.1.0")
    _ok(cli, "approve", "webapp", "v1.1.0", "--stage", "prod", "--by", "alice")
    _ok(cli, "switch", "web", "--stage", "qa")
    _ok(cli, "switch", "web", "--stage", "prod")  # qa's gates: prod's versions pass them


def test_connect_with_a_stage_passes_the_gates_of_the_endpoints_stage(
    shop: Path, cli: CLI, snapshot: Snapshot
) -> None:
    _add(cli, "db", "v3.0.0", "v3.1.0-rc.1", "v3.1.0-rc.1")
    lines = _refused(
        cli, snapshot, "connect", "webapp", "--child", "db", "--endpoint", "web", "--stage", "qa"
    )
    assert _has(lines, "db v3.1.0-rc.1→prod", "pre-releases may not enter prod")
    assert _has(lines, "db v3.1.0-rc.1→prod", "needs an approval")
    # Without --stage the child answers at prod with its prod version: nothing new enters.
    _ok(cli, "connect", "webapp", "--child", "db", "--endpoint", "web")


@pytest.fixture
def branched(shop: Path, cli: CLI) -> Path:
    """db is the child of the prod endpoint at its qa position (approved for prod)."""
    _add(cli, "db", "v3.0.0", "v3.1.0", "v3.2.0-rc.1")
    _ok(cli, "approve", "db", "v3.1.0", "--stage", "prod", "--by", "alice")
    _ok(cli, "connect", "webapp", "--child", "db", "--endpoint", "web", "--stage", "qa")
    return shop


def test_replace_below_a_branched_edge_passes_the_endpoints_gates(
    branched: Path, cli: CLI, snapshot: Snapshot
) -> None:
    lines = _refused(cli, snapshot, "replace", "db", "--stage", "qa", "--with", "above")
    assert _has(lines, "db v3.2.0-rc.1→prod", "pre-releases may not enter prod")
    assert _has(lines, "db v3.2.0-rc.1→prod", "needs an approval")


def test_rollback_to_below_a_branched_edge_passes_the_endpoints_gates(
    branched: Path, cli: CLI, snapshot: Snapshot
) -> None:
    lines = _refused(cli, snapshot, "rollback", "db", "--stage", "qa", "--to", "v3.0.5")
    assert lines and all("db v3.0.5→prod" in line for line in lines)
    assert _has(lines, "needs an approval", "approve db v3.0.5 --stage prod")
    _ok(cli, "approve", "db", "v3.0.5", "--stage", "prod", "--by", "alice")
    _ok(cli, "rollback", "db", "--stage", "qa", "--to", "v3.0.5")


def test_after_a_rollback_the_next_version_reaches_prod_by_plain_promotions(
    project: Path, cli: CLI, snapshot: Snapshot
) -> None:
    _ok(cli, "init")
    _add(cli, "webapp", "v1.0.0", "v1.1.0", "v1.1.0")
    _ok(cli, "promote", "webapp", "--to", "prod")
    _ok(cli, "rollback", "webapp", "--stage", "prod")
    (service,) = json.loads(cli("show", "services", "webapp", "--json").out)
    assert service["stages"] == {"prod": "v1.0.0", "qa": "v1.1.0", "dev": "v1.1.0"}

    before = snapshot()
    shortcut = cli("promote", "webapp", "--to", "prod")
    assert shortcut.code == 1 and snapshot() == before
    text = shortcut.out + shortcut.err
    assert "rejected: rolled back from prod" in text
    assert "release a newer version and promote it through qa first" in text

    _ok(cli, "promote", "webapp", "v1.2.0", "--to", "dev")
    _ok(cli, "promote", "webapp", "--to", "qa")
    _ok(cli, "promote", "webapp", "--to", "prod")
    (service,) = json.loads(cli("show", "services", "webapp", "--json").out)
    assert service["stages"] == {"prod": "v1.2.0", "qa": "v1.2.0", "dev": "v1.2.0"}


@pytest.mark.slow
def test_a_refused_switch_leaves_haproxy_serving_prod(
    routed: tuple[Path, str],  # noqa: F811
    cli: CLI,
    snapshot: Snapshot,
) -> None:
    """Real HAProxy and containers: prod 1.0.0, qa 1.1.0 (not approved for prod)."""
    folder, url = routed
    with (folder / "pipeline-kit.toml").open("a") as config:
        config.write("\n[gates.prod]\napproval = true\n")
    config_before = (folder / "haproxy" / "haproxy.cfg").read_text()
    lines = _refused(cli, snapshot, "switch", "web", "--stage", "qa")
    assert _has(lines, "webapp 1.1.0→prod", "needs an approval")
    assert (folder / "haproxy" / "haproxy.cfg").read_text() == config_before
    answers = {requests.get(url, timeout=5).text.strip() for _ in range(10)}
    assert answers == {OLD}
    _ok(cli, "approve", "webapp", "1.1.0", "--stage", "prod", "--by", "alice")
    _ok(cli, "switch", "web", "--stage", "qa")
    answers = {requests.get(url, timeout=5).text.strip() for _ in range(10)}
    assert answers == {NEW}
