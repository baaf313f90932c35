"""A real stack for the console's browser tests: Temporal with its Web UI, the API serving /console, headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, from scripts/setup-system), driven by Playwright for Python; no browser
is downloaded. Screenshots go to ``$DMA_TEST_ARTIFACTS/console`` (default: pytest's temp dir, ``artifacts/console``);
``DMA_UPDATE_SCREENSHOT=1`` also copies the README's screenshot to ``docs/console.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import new_database
from tests.fakes.model_server import FakeModelServer
from tests.stack import API_KEY, Stack, TemporalDevServer, traversable_dir

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def console_stack(model_server: FakeModelServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    temporal = TemporalDevServer(tmp_path_factory.mktemp("temporal-ui"), with_ui=True)
    temporal.start()
    directory = traversable_dir("dma-console-")
    url, drop = new_database("sqlite", directory)
    overrides = {"temporal_ui_url": f"http://127.0.0.1:{temporal.ui_port}"}
    stack = Stack(url, temporal.address, model_server.url, directory, api_overrides=overrides).start()
    yield stack
    stack.stop()
    temporal.stop()
    drop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def sdk(console_stack: Stack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        api_key=API_KEY, base_url=console_stack.base_url, _strict_response_validation=True
    ) as client:
        yield client


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/setup-system"
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (its own session storage); an uncaught script error fails the test."""
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], f"the console threw: {errors}"


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = os.environ.get("DMA_TEST_ARTIFACTS")
    directory = (Path(base) if base else tmp_path_factory.getbasetemp() / "artifacts") / "console"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def shoot(page: Page, artifacts: Path) -> Callable[[str], Path]:
    def take(name: str) -> Path:
        path = artifacts / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
