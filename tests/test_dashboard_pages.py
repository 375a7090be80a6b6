"""The dashboard's pages as files: same input, same bytes; escaped data; the board's cells;
the views around it (show services relations, history of connect and switch, summaries)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline_kit.dashboard import Image, SiteData, site
from pipeline_kit.dashboard.data import cell
from pipeline_kit.model.items import Approval, Container, Service, Stack, State
from pipeline_kit.model.policy import Gate, Policy
from pipeline_kit.report.results import Report
from pipeline_kit.report.summary import markdown
from tests.conftest import CLI

NOW = datetime(2026, 1, 2, tzinfo=UTC)
EVIL = '<img src=x onerror="alert(1)">'


def _ok(cli: CLI, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, (args, result.err)
    return result.out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def shop(project: Path, cli: CLI) -> Path:
    (project / "pipeline-kit.toml").write_text(
        'stages = ["prod", "qa", "dev"]\n[gates.prod]\napproval = true\n'
    )
    _ok(cli, "init")
    _ok(cli, "service", "add", "web", "--image", "example/web", "--version", "1.0.0",
        "--version", "1.1.0", "--version", "1.2.0")  # fmt: skip
    _ok(cli, "service", "add", "api", "--image", "example/api", "--version", "2.0.0")
    _ok(cli, "endpoint", "add", "shop", "--service", "web", "--port", "8080", "--stage", "prod")
    _ok(cli, "connect", "web", "--child", "api", "--endpoint", "shop")
    _ok(cli, "approve", "web", "1.1.0", "--stage", "prod", "--by", EVIL)
    _ok(cli, "promote", "web", "--to", "prod")
    _ok(
        cli, "approve", "web", "1.2.0", "--stage", "prod", "--by", "carol"
    )  # qa's, for prod's users
    _ok(cli, "switch", "shop", "--stage", "qa")
    return project


def test_the_same_state_and_now_write_the_same_bytes(shop: Path, cli: CLI, tmp_path: Path) -> None:
    now = "2026-12-01T12:00:00+00:00"
    _ok(cli, "dashboard", "--out", str(tmp_path / "a"), "--now", now)
    _ok(cli, "dashboard", "--out", str(tmp_path / "b"), "--now", now)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second
    assert set(first) == {
        "index.html", "timeline.html", "metrics.html", "assets/style.css", "assets/board.js",
        "services/web.html", "services/api.html",
    }  # fmt: skip
    for name, data in first.items():  # nothing from elsewhere: no http(s) reference at all
        clean = data.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")
        assert b"http://" not in clean and b"https://" not in clean, name


def test_every_value_is_escaped(shop: Path, cli: CLI, tmp_path: Path) -> None:
    _ok(cli, "dashboard", "--out", str(tmp_path / "site"), "--now", "2026-12-01T12:00:00Z")
    board = (tmp_path / "site" / "index.html").read_text()
    timeline = (tmp_path / "site" / "timeline.html").read_text()
    assert "1.1.0 approved by &lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in board
    assert "&lt;img src=x" in timeline
    for page in (board, timeline):
        assert "<img" not in page


def test_history_of_a_service_includes_connect_and_switch(shop: Path, cli: CLI) -> None:
    actions = [h["action"] for h in json.loads(_ok(cli, "show", "history", "--service", "web",
                                                   "--json"))]  # fmt: skip
    assert actions == [
        "service add", "endpoint add", "connect", "approve", "promote", "approve", "switch",
    ]  # fmt: skip
    api = [
        h["action"] for h in json.loads(_ok(cli, "show", "history", "--service", "api", "--json"))
    ]
    assert api == ["service add", "connect"]


def test_show_services_lists_parents_children_and_endpoints(shop: Path, cli: CLI) -> None:
    found = {s["name"]: s for s in json.loads(_ok(cli, "show", "services", "--json"))}
    assert (found["web"]["parents"], found["web"]["children"]) == ([], ["api"])
    assert found["web"]["endpoints"] == [{"name": "shop", "port": 8080, "stage": "qa"}]
    assert (found["api"]["parents"], found["api"]["children"], found["api"]["endpoints"]) == (
        ["web"],
        [],
        [],
    )
    one = json.loads(_ok(cli, "show", "services", "api", "--json"))  # a scoped read
    assert one[0]["parents"] == ["web"]
    table = _ok(cli, "show", "services")
    assert "parents" in table and "shop:8080@qa" in table


def test_check_writes_the_stages_before_and_after_into_the_summary(
    shop: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with (shop / "pipeline-kit.toml").open("a") as config:
        config.write('[release]\nservice = "web"\nimage = "example/web"\n')
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert cli("check", "--version", "1.3.0").code == 0
    text = summary.read_text()
    assert '  s0["dev<br/>1.2.0 → 1.3.0"]\n  s1["qa<br/>1.2.0"]\n  s2["prod<br/>1.1.0"]' in text


def test_the_mermaid_labels_carry_no_markup() -> None:
    report = Report(
        "promote", ("prod", "dev"), (), "web", "1.0.0", None, "dev", True, None,
        {"dev": 'x"]-->evil<b>'}, {"dev": "1.0.0"},
    )  # fmt: skip
    text = markdown(report)
    assert '  s0["dev<br/>1.0.0 → x#34;#93;--#62;evil#60;b#62;"]' in text
    assert "<b>" not in text


def _service(name: str, versions: list[str], entered: datetime) -> Service:
    containers = tuple(Container(f"{name}{i}", v, entered) for i, v in enumerate(versions))
    return Service(name, "example/" + name, (Stack(0, "local", containers),))


def test_a_cell_shows_soak_left_pre_releases_approvals_and_canary_weights() -> None:
    policy = Policy(
        stages=("prod", "qa", "dev"),
        gates={"prod": Gate(prereleases=False, approval=True), "qa": Gate(soak=timedelta(hours=2))},
    )
    web = _service("web", ["1.0.0", "1.1.0-rc.1", "1.2.0"], NOW - timedelta(minutes=30))
    approvals = (Approval("web", "1.0.0", 0, "alice", NOW),)
    state = State(services={"web": web}, approvals=approvals)
    data = SiteData(state, policy, [], NOW, canaries={("web", 2): ("1.3.0", 10)})
    prod, qa, dev = (cell(data, web, p) for p in range(3))
    assert prod.gates == (
        "approval required",
        "1.0.0 approved by alice",
        "approval pending for 1.1.0-rc.1 (from qa)",
        "no pre-releases",
    )
    assert prod.warn and prod.health == "unknown" and prod.since == "30m 0s"
    assert qa.gates == ("soak 1h 30m left", "1.1.0-rc.1 is a pre-release")
    assert dev.weights == (("1.2.0", 90), ("1.3.0", 10))
    later = SiteData(state, policy, [], NOW + timedelta(hours=2), images={})
    assert cell(later, web, 1).gates[0] == "soaked"


def test_commits_are_linked_when_the_repository_is_known() -> None:
    image = Image("a" * 40, NOW, "https://git.example.com/team/web.git")
    assert image.commit_url() == f"https://git.example.com/team/web/commit/{'a' * 40}"
    assert Image("a" * 40, NOW, "git@example.com:team/web.git").commit_url() is None
    web = _service("web", ["1.0.0", "1.0.0", "1.0.0"], NOW)
    data = SiteData(
        State(services={"web": web}), Policy(), [], NOW, images={("web", "1.0.0"): image}
    )
    page = site(data)["services/web.html"]
    assert f'<a href="https://git.example.com/team/web/commit/{"a" * 40}">aaaaaaaaaaaa</a>' in page
