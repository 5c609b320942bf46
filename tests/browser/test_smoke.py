"""The browser-test infrastructure itself: Chromium opens the utility's pages, screenshots land in
docs/screenshots/, and a page's console error, uncaught error or failed request fails the test."""

import shutil
import socket
import subprocess

import pytest
from playwright.async_api import Browser

from tests.browser.conftest import CHROMIUM, VIEWPORT, PageProblems, open_page, screenshot


async def test_home_page_in_chromium(page, page_problems, base_url):
    response = await page.goto(base_url + "/")
    assert response is not None and response.status == 200
    text = await page.locator("body").inner_text()
    assert text.startswith("RIMS Utility ") and "is running" in text, text
    assert "POST /api/invoice" in text, text
    assert page.viewport_size == VIEWPORT
    path = await screenshot(page, "home")
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Each script provokes one kind of problem; the page fixture's check must name it.
PROBLEMS = {
    "console error": ("console.error('boom from the page')", r"console error: boom from the page"),
    "uncaught error": ("setTimeout(() => {{ throw new Error('kaboom') }}, 0)",
                       r"uncaught error in the page: .*kaboom"),
    "failed request": ("fetch('http://127.0.0.1:{port}/gone').catch(() => {{}})",
                       r"request failed: GET http://127\.0\.0\.1:\d+/gone: net::ERR_CONNECTION_REFUSED"),
    "missing file (404)": (
        "document.body.append(Object.assign(document.createElement('img'), {{src: '/no-such.png'}}))",
        r"console error: Failed to load resource: .*404"),
}


@pytest.mark.parametrize("kind", list(PROBLEMS))
async def test_a_page_problem_fails_the_test(browser: Browser, base_url, kind):
    script, expected = PROBLEMS[kind]
    problems = PageProblems()
    with pytest.raises(pytest.fail.Exception, match=expected) as failure:
        async with open_page(browser, problems) as page:
            await page.goto(base_url + "/")
            await page.evaluate(script.format(port=closed_port()))
            await page.wait_for_timeout(300)  # let the request fail / the timer fire
    assert "page_problems.allow" in str(failure.value)


async def test_an_allowed_problem_does_not_fail_the_test(page, page_problems, base_url):
    page_problems.allow(r"Failed to load resource: .*404")
    await page.goto(base_url + "/")
    async with page.expect_response(lambda r: r.url.endswith("/no-such.png")) as answer:
        await page.evaluate("document.body.append(Object.assign(document.createElement('img'), "
                            "{src: '/no-such.png'}))")
    assert (await answer.value).status == 404


async def test_the_browser_is_debians_chromium(browser: Browser):
    assert browser.browser_type.name == "chromium"
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian system: cannot compare with the chromium package's version")
    package = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "chromium"], check=True,
                             capture_output=True, text=True).stdout
    # Debian's version is upstream's plus a suffix: 156.0.8078.79-1~deb12u1
    assert package.startswith(browser.version + "-"), (package, browser.version, CHROMIUM)
