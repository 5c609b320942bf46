"""Real-browser tests: Debian's Chromium (`/usr/bin/chromium`) driven by Playwright (async API).

Run only these tests:

    bash build_scripts/test.sh tests/browser          # installs Chromium + Playwright first
    .venv/bin/python -m pytest tests/browser          # once bootstrap.sh has run

Screenshots: `await screenshot(page, "name")` saves the full page as `docs/screenshots/name.png`
(the folder is made if missing). Every run rewrites them, so they always show the current pages.

What the fixtures give:
- `browser`: one Chromium for the whole session, started from `/usr/bin/chromium` (Debian's
  package, installed by build_scripts/bootstrap.sh; `playwright install` is never used) with the
  flags measured in shared/ENVIRONMENT.md, and HOME/XDG folders in a temporary folder.
- `page`: a fresh browser context (viewport 1366×768, the dashboard's target) and page per test.
  It records console errors, uncaught page errors, failed requests and crashes; if any happened,
  the test errors at teardown, listing them. A test that provokes one on purpose (say, a 401 from
  the sign-in API) declares it first: `page_problems.allow(r"401")`.
- `utility` (with `sandbox`): a real Core on 127.0.0.1 with the KPRA sandbox, as in
  tests/integration, here on the browser's event loop; `base_url` is its address. The page is
  checked and closed before the utility stops (`before_servers_stop`), so a late request of the
  page (Chromium's /favicon.ico) never meets a stopped server. A new server fixture does the same.

Event loops: a Playwright connection belongs to the loop that started it, and pytest-asyncio gives
each test its own loop by default. So every async test in tests/browser runs on the session loop
(added by `pytest_collection_modifyitems` below), and every async fixture a browser test uses must
say `@pytest_asyncio.fixture(loop_scope="session")` (its scope can still be "function"). A fixture
on a per-test loop would be idle while the test runs: a server it started would never answer.
Collection stops with a message naming such a fixture. Sharing the browser saves ~0.6 s a test
(Playwright's driver + Chromium start + stop); each test still pays ~0.3 s for its own context.

If Chromium cannot run here (not Linux, or no /usr/bin/chromium), the tests are skipped with the
reason, shown in the run's summary. In CI (`CI` set) or with `RIMS_REQUIRE_BROWSER=1` they fail
instead, so a machine that should have Chromium never passes without testing.
"""

import inspect
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, Request, async_playwright

from app.sandbox.kpra import KpraSandbox
from tests.integration.conftest import Utility, configure_pos

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
# shared/ENVIRONMENT.md: without the background-networking flags Chromium keeps trying to reach
# Google on this machine kind's closed network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1366, "height": 768}


def chromium_missing() -> str | None:
    """Why Chromium cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return f"browser tests need Debian's Chromium on Linux (this is {sys.platform})"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"{CHROMIUM} not found: install Debian's `chromium` package "
                "(bash build_scripts/bootstrap.sh does)")
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if HERE not in Path(item.path).resolve().parents:
            continue
        item.add_marker(pytest.mark.browser)
        if not pytest_asyncio.is_async_test(item):
            continue
        item.add_marker(session_loop, append=False)
        fixture_info = getattr(item, "_fixtureinfo", None)
        for name, definitions in (fixture_info.name2fixturedefs.items() if fixture_info else ()):
            func = definitions[-1].func
            is_async = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
            if is_async and getattr(func, "_loop_scope", None) != "session":
                raise pytest.UsageError(
                    f"{item.nodeid}: async fixture {name!r} runs on a per-test event loop, but "
                    "browser tests run on the session loop; declare it with "
                    "@pytest_asyncio.fixture(loop_scope='session') (see tests/browser/conftest.py)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: real Chromium tests (tests/browser)")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    reason = chromium_missing()
    if reason:
        if os.environ.get("CI") or os.environ.get("RIMS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (CI or RIMS_REQUIRE_BROWSER=1: browser tests must run)")
        pytest.skip(reason)
    # Chromium (fontconfig, crash reports, ...) writes under HOME and the XDG folders.
    home = tmp_path_factory.mktemp("chromium-home")
    env = dict(os.environ, HOME=str(home), NO_AT_BRIDGE="1")  # no accessibility bus
    # Nor the test run's private D-Bus session, where the test keyring lives.
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"),
                     ("XDG_DATA_HOME", "data"), ("XDG_RUNTIME_DIR", "runtime")):
        (home / sub).mkdir(mode=0o700)
        env[var] = str(home / sub)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=env, headless=True)
        yield chromium
        await chromium.close()


class PageProblems:
    """What went wrong in a page: console errors, uncaught errors, failed requests, crashes."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._allowed: list[re.Pattern[str]] = []
        self.recording = True

    def allow(self, pattern: str) -> None:
        """Expect problems matching this regular expression (searched) in this test."""
        self._allowed.append(re.compile(pattern))

    def add(self, problem: str) -> None:
        if self.recording:
            self.seen.append(problem)

    def unexpected(self) -> list[str]:
        return [p for p in self.seen if not any(a.search(p) for a in self._allowed)]

    def check(self) -> None:
        """pytest.fail listing every unexpected problem (called by the `page` fixture's teardown)."""
        bad = self.unexpected()
        if bad:
            pytest.fail(f"the browser reported {len(bad)} problem(s) (allow an expected one with "
                        "page_problems.allow(regex)):\n  " + "\n  ".join(bad), pytrace=False)

    def watch(self, page: Page) -> None:
        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                where = message.location.get("url") or page.url
                self.add(f"console error: {message.text} (at {where})")

        def failed(request: Request) -> None:
            self.add(f"request failed: {request.method} {request.url}: {request.failure}")

        page.on("console", console)
        page.on("pageerror", lambda error: self.add(f"uncaught error in the page: {error}"))
        page.on("requestfailed", failed)
        page.on("crash", lambda _page: self.add("the page crashed"))


@asynccontextmanager
async def open_page(browser: Browser, problems: PageProblems,
                    before_servers_stop: list | None = None) -> AsyncIterator[Page]:
    """A new context and page, watched by `problems`; checked when the block ends.

    The page is closed at the end of the block, or earlier by whoever runs the closer it puts in
    `before_servers_stop` (the `utility` fixture does, so that a late request of the page, such as
    Chromium's /favicon.ico, does not fail against a server that has just stopped)."""
    context = await browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    page: Page | None = None
    closed = False

    async def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        try:
            if page is not None and not page.is_closed():
                try:  # a round trip: the events the page sent before it are delivered by now
                    await page.evaluate("0")
                except Exception as why:  # a crashed page, or one mid-navigation
                    problems.add(f"the page did not answer at the end of the test: {why}")
        finally:
            problems.recording = False  # closing aborts whatever still loads: not a problem
            await context.close()

    if before_servers_stop is not None:
        before_servers_stop.append(close)
    try:
        page = await context.new_page()
        problems.watch(page)
        yield page
    finally:
        await close()
    problems.check()


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def before_servers_stop() -> list:
    """Async callables that fixtures running a server (`utility`) await before stopping it."""
    return []


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, page_problems: PageProblems,
               before_servers_stop: list) -> AsyncIterator[Page]:
    async with open_page(browser, page_problems, before_servers_stop) as opened:
        yield opened


async def screenshot(page: Page, name: str) -> Path:
    """Save the whole page (not just the viewport) as docs/screenshots/<name>.png."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ValueError(f"screenshot name {name!r}: use lower-case letters, digits, - and _")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


# The utility and its sandbox, as in tests/integration/conftest.py, on the browser's loop.
@pytest_asyncio.fixture(loop_scope="session")
async def sandbox(tmp_path: Path) -> AsyncIterator[KpraSandbox]:
    box = KpraSandbox(tmp_path / "sandbox")
    await box.start()
    yield box
    await box.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def utility(tmp_path: Path, sandbox: KpraSandbox,
                  before_servers_stop: list) -> AsyncIterator[Utility]:
    data_dir = tmp_path / "data"
    configure_pos(data_dir)
    running = await Utility(data_dir, sandbox).start()
    yield running
    try:
        for close_page in reversed(before_servers_stop):
            await close_page()
    finally:
        await running.stop()


@pytest.fixture
def base_url(utility: Utility) -> Iterator[str]:
    assert utility.core is not None
    yield utility.core.base_url
