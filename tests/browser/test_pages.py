"""Screenshots of the dashboard's pages (docs/screenshots/), as a user at 1366×768 sees them."""

import pytest

from tests.browser.conftest import screenshot


async def test_login_page_screenshot(page, page_problems, base_url):
    # The page asks GET /api/session whether someone is signed in; nobody is: 401, which Chromium
    # logs as a console error.
    page_problems.allow(r"401 .*/api/session\)$")
    response = await page.goto(base_url + "/login.html")
    assert response is not None
    if response.status == 404:  # the sign-in page arrives with the dashboard issue
        pytest.skip("GET /login.html answers 404: the sign-in page is not served yet")
    assert response.status == 200
    assert "Sign in" in await page.title()
    for label in ("POS ID", "Key"):
        await page.get_by_label(label, exact=True).wait_for(state="visible")
    await page.get_by_role("button", name="Sign in").wait_for(state="visible")
    await screenshot(page, "login")
