"""Debian's headless Chromium driven through chromedriver (Selenium): nothing is downloaded.

``browser`` is one Chromium for the session, started with a fresh profile folder. Pages are
opened from ``file://``; ``problems`` lists every console error and failed request since the
last call (from the browser log and the DevTools network events).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
)


def _options(profile: Path) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return options


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """A headless Chromium (Debian's, through its chromedriver) with a fresh profile."""
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER)):
        pytest.fail("install Debian's chromium and chromium-driver: scripts/setup.sh test")
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = webdriver.Chrome(options=_options(profile), service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def problems(driver: webdriver.Chrome) -> list[str]:
    """Console errors and failed requests since the last call (both logs are drained)."""
    found = [
        f"console: {e['message']}"
        for e in driver.get_log("browser")
        if e.get("level") in ("SEVERE", "ERROR")
    ]
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.loadingFailed":
            found.append(f"request failed: {message['params'].get('errorText')}")
        if message.get("method") == "Network.responseReceived":
            status = message["params"]["response"].get("status", 0)
            if status >= 400:
                found.append(f"request {message['params']['response']['url']}: {status}")
    return found


def requested(driver: webdriver.Chrome) -> list[str]:
    """The URLs of every resource the page loaded (its Resource Timing entries)."""
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; });"
    )
    return [str(n) for n in names]
