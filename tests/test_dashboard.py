"""The dashboard in Debian's headless Chromium, opened from file://, checked against the CLI."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from pipeline_kit.store import health, journal
from pipeline_kit.store.database import Scope, Store
from pipeline_kit.store.journal import CanaryRecord, Incoming
from tests.conftest import CLI
from tests.support.browser import problems, requested

CONFIG = """\
stages = ["prod", "qa", "dev"]

[gates.prod]
prereleases = false
approval = true
"""
NOW = "2026-12-01T12:00:00Z"


def _ok(cli: CLI, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, (args, result.err)
    return result.out


def _canary(url: str) -> None:
    """db's qa stage sends 25% of its traffic to 3.1.0: a running canary, as the journal has it."""
    store = Store(url)
    try:
        with store.write(Scope(frozenset({"db"})), "canary") as session:
            now = datetime.now(UTC)
            entry = journal.add(session, ["db"], "promote", [], [], now, timedelta(minutes=5))
            record = CanaryRecord(
                "db", 1, 25, "qa", None, (Incoming(0, "127.0.0.1:1", "3.1.0"),), ()
            )
            journal.set_canary(session, entry, record)
    finally:
        store.dispose()


def _health(url: str, services: dict[str, object]) -> None:
    """Every container of web healthy but its dev one: as ``verify`` records it."""
    store = Store(url)
    found = {}
    for stack in services["web"]["stacks"]:  # type: ignore[index]
        for c in stack["containers"]:
            status = "unhealthy" if c["stage"] == "dev" else "healthy"
            found[c["id"]] = (
                "web",
                status,
                "GET /health answered 500" if status != "healthy" else "",
            )
    try:
        with store.write(Scope(frozenset({"web"})), "verify") as session:
            health.record(session, {"web"}, found, datetime.now(UTC))
    finally:
        store.dispose()


@pytest.fixture
def shop(project: Path, cli: CLI, db_url: str) -> dict[str, object]:
    """3 services, 3 stages, a tree web → api → db, a rollback, a pending approval, a canary."""
    (project / "pipeline-kit.toml").write_text(CONFIG)
    _ok(cli, "init")
    _ok(cli, "service", "add", "web", "--image", "example/web", "--version", "1.0.0",
        "--version", "1.1.0", "--version", "1.2.0")  # fmt: skip
    _ok(cli, "service", "add", "api", "--image", "example/api", "--version", "2.0.0")
    _ok(cli, "service", "add", "db", "--image", "example/db", "--version", "3.0.0")
    _ok(cli, "endpoint", "add", "shop", "--service", "web", "--port", "8080", "--stage", "prod")
    _ok(cli, "connect", "web", "--child", "api", "--endpoint", "shop")
    # db's qa version answers prod's users: it passes prod's gates first.
    _ok(cli, "approve", "db", "3.0.0", "--stage", "prod", "--by", "carol")
    _ok(cli, "connect", "api", "--child", "db", "--endpoint", "shop", "--stage", "qa")
    _ok(cli, "approve", "web", "1.1.0", "--stage", "prod", "--by", "alice <a@example.com>")
    _ok(cli, "promote", "web", "--to", "prod")
    _ok(cli, "rollback", "web", "--stage", "prod")
    _ok(cli, "promote", "web", "1.3.0", "--to", "qa")  # qa's 1.2.0 awaits approval for prod
    _ok(cli, "promote", "api", "2.1.0", "--to", "qa")
    _ok(cli, "promote", "db", "3.1.0", "--to", "dev")
    _canary(db_url)
    services = {s["name"]: s for s in json.loads(_ok(cli, "show", "services", "--json"))}
    _health(db_url, services)
    return services


def _open(driver: WebDriver, path: Path) -> None:
    problems(driver)  # drain what an earlier page left
    driver.get(path.as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    assert problems(driver) == []
    loaded = requested(driver)
    assert all(url.startswith("file://") for url in loaded), loaded


def test_the_dashboard_shows_the_state_in_chromium(
    shop: dict[str, object], cli: CLI, tmp_path: Path, browser: WebDriver
) -> None:
    out = tmp_path / "site"
    _ok(cli, "dashboard", "--out", str(out), "--now", NOW)
    _open(browser, out / "index.html")
    style = "return getComputedStyle(document.querySelector('header')).backgroundColor"
    assert browser.execute_script(style) == "rgb(36, 41, 47)"  # the stylesheet applies
    for name, service in shop.items():
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-service="{name}"]')
        for stage, version in service["stages"].items():  # type: ignore[attr-defined]
            cell = row.find_element(By.CSS_SELECTOR, f'td[data-stage="{stage}"] .version')
            assert cell.text == version
    web = browser.find_element(By.CSS_SELECTOR, 'tr[data-service="web"]').text
    assert "approval pending for 1.2.0 (from qa)" in web
    assert "1.1.0 rejected" not in web  # rolled back out of prod: no longer on the board
    assert "health: unhealthy" in web and "health: healthy" in web
    db = browser.find_element(By.CSS_SELECTOR, 'tr[data-service="db"] td[data-stage="qa"]').text
    assert "canary: 3.0.0 75% · 3.1.0 25%" in db and "health: unknown" in db
    browser.save_screenshot(str(tmp_path / "board.png"))

    search = browser.find_element(By.ID, "filter")
    search.send_keys("ap")
    shown = [r.get_attribute("data-service") for r in browser.find_elements(
        By.CSS_SELECTOR, "tr[data-service]") if r.is_displayed()]  # fmt: skip
    assert shown == ["api"]
    search.clear()
    search.send_keys(" ")
    assert all(r.is_displayed() for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-service]"))


def test_the_timeline_lists_the_history_newest_first(
    shop: dict[str, object], cli: CLI, tmp_path: Path, browser: WebDriver
) -> None:
    out = tmp_path / "site"
    _ok(cli, "dashboard", "--out", str(out), "--now", NOW)
    history = json.loads(_ok(cli, "show", "history", "--limit", "1000", "--json"))
    _open(browser, out / "timeline.html")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.timeline tbody tr")
    assert [r.get_attribute("data-id") for r in rows] == [str(h["id"]) for h in reversed(history)]
    actions = [r.find_elements(By.TAG_NAME, "td")[3].text for r in rows]
    assert actions == [
        h["action"] + (" rollback" if h["action"] == "rollback" else "") for h in reversed(history)
    ]
    marked = browser.find_elements(By.CSS_SELECTOR, "tr.rollback")
    assert len(marked) == 1
    assert "web: prod=1.1.0 qa=1.2.0 dev=1.2.0 → prod=1.0.0 qa=1.2.0 dev=1.2.0" in marked[0].text


def test_the_service_page_draws_every_edge_of_its_trees(
    shop: dict[str, object], cli: CLI, tmp_path: Path, browser: WebDriver
) -> None:
    out = tmp_path / "site"
    _ok(cli, "dashboard", "--out", str(out), "--now", NOW)
    endpoints = json.loads(_ok(cli, "show", "endpoints", "--json"))
    _open(browser, out / "services" / "web.html")
    svgs = browser.find_elements(By.CSS_SELECTOR, "svg.tree")
    assert len(svgs) == 3  # one tree per stage
    drawn = {
        tuple(g.get_attribute(f"data-{k}") for k in ("parent", "child", "stage")): g.find_element(
            By.CSS_SELECTOR, "text.edge"
        ).text
        for g in browser.find_elements(By.CSS_SELECTOR, "svg.tree g.edge")
    }
    shop_edges = endpoints[0]["tree"]
    assert shop_edges  # the endpoint's own tree
    for edge in shop_edges:
        key = (edge["parent"], edge["child"], edge["stage"])
        assert drawn[key] == f"{edge['parent']} → {edge['child']} @{edge['stage']}"
    conveyor = browser.find_element(By.CSS_SELECTOR, "table.conveyor").text
    assert "1.3.0" in conveyor and "approval pending for 1.2.0" in conveyor
    tall = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, tall)
    browser.save_screenshot(str(tmp_path / "service.png"))
    browser.set_window_size(1400, 900)
    _open(browser, out / "metrics.html")
    assert "web" in browser.find_element(By.CSS_SELECTOR, "table.metrics-7").text
    if os.environ.get("PIPELINE_KIT_SCREENSHOTS"):  # refresh the README's pictures
        _open(browser, out / "index.html")
        browser.save_screenshot(os.path.join(os.environ["PIPELINE_KIT_SCREENSHOTS"], "board.png"))
