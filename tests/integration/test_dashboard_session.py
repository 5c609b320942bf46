"""Dashboard sign-in against the real server (app/server/session_api.py, sessions.py, pages.py):
the session cookie, sign-out, expiry, throttled failures, CSRF on every dashboard action, the
pages' security headers, and the POS API untouched by all of it."""

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import pytest

from app.sandbox.kpra import KpraSandbox
from app.server.throttle import MAX_FAILURES
from tests.integration.conftest import KEY, POS_ID, Utility, configure_pos, invoice

ERROR_SHAPE = {"status", "message", "errors"}


class Browser:
    """An HTTP client that keeps cookies for 127.0.0.1 (aiohttp's default jar refuses cookies
    from IP addresses) and the CSRF token it was given."""

    def __init__(self, utility: Utility):
        assert utility.core is not None
        self.base = utility.core.base_url
        self.http = aiohttp.ClientSession(base_url=self.base,
                                          cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf: str | None = None

    async def close(self) -> None:
        await self.http.close()

    async def call(self, method: str, path: str, **kwargs) -> tuple[int, dict, aiohttp.ClientResponse]:
        async with self.http.request(method, path, **kwargs) as response:
            body = await response.json() if response.content_type == "application/json" else {}
            if response.status >= 400:
                assert set(body) == ERROR_SHAPE and body["status"] == response.status, body
            return response.status, body, response

    async def sign_in(self, pos_id: str = POS_ID, key: str = KEY, **kwargs):
        status, body, response = await self.call("POST", "/api/session",
                                                 json={"pos_id": pos_id, "key": key}, **kwargs)
        if status == 200:
            self.csrf = body["data"]["csrf_token"]
        return status, body, response

    def cookie(self) -> str | None:
        for morsel in self.http.cookie_jar:
            if morsel.key == "rims_session":
                return morsel.value
        return None


@contextlib.asynccontextmanager
async def browser_of(utility: Utility) -> AsyncIterator[Browser]:
    browser = Browser(utility)
    try:
        yield browser
    finally:
        await browser.close()


@pytest.fixture
async def browser(utility) -> AsyncIterator[Browser]:
    async with browser_of(utility) as b:
        yield b


def set_cookie(response: aiohttp.ClientResponse) -> SimpleCookie:
    cookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        cookie.load(header)
    return cookie


async def test_sign_in_sets_a_strict_http_only_session_cookie(browser):
    status, body, response = await browser.sign_in()
    assert status == 200, body
    data = body["data"]
    assert data["pos_id"] == POS_ID and data["csrf_token"] and 0 < data["expires_in_s"] <= 12 * 3600
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", data["expires_at"])
    morsel = set_cookie(response)["rims_session"]
    assert len(morsel.value) >= 43  # 256 bits, URL-safe base64
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict"
    assert morsel["path"] == "/" and int(morsel["max-age"]) == 12 * 3600
    assert not morsel["secure"]  # plain http://localhost: a Secure cookie would never come back
    assert response.headers["Cache-Control"] == "no-store"
    assert morsel.value not in str(body), "the session token is only in the cookie"

    status, body, _ = await browser.call("GET", "/api/session")
    assert status == 200 and body["data"]["pos_id"] == POS_ID
    assert body["data"]["csrf_token"] == browser.csrf


async def test_a_wrong_key_or_unknown_pos_is_refused_and_sets_nothing(browser):
    for pos_id, key in ((POS_ID, "wrong-key"), ("NOBODY", KEY), (POS_ID, KEY + " x")):
        status, body, response = await browser.sign_in(pos_id, key)
        assert status == 401, body
        assert "setup" in body["message"] and body["errors"] == {}
        assert "Set-Cookie" not in response.headers
    assert browser.cookie() is None
    status, _, _ = await browser.call("GET", "/api/session")
    assert status == 401


async def test_sign_in_needs_both_fields_as_json(browser):
    status, body, _ = await browser.call("POST", "/api/session", json={"pos_id": " "})
    assert status == 400 and set(body["errors"]) == {"pos_id", "key"}
    status, body, _ = await browser.call("POST", "/api/session", data="pos_id=x&key=y",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415 and "content_type" in body["errors"]
    status, body, _ = await browser.call("POST", "/api/session", data=b"{",
                                         headers={"Content-Type": "application/json"})
    assert status == 400 and "body" in body["errors"]


async def test_wrong_sign_ins_are_throttled_and_do_not_block_the_pos_api(browser, utility):
    for _ in range(MAX_FAILURES):
        status, _, _ = await browser.sign_in(key="guess")
        assert status == 401
    status, body, response = await browser.sign_in()  # even the right key must wait now
    assert status == 429, body
    assert int(response.headers["Retry-After"]) > 0 and "key" in body["errors"]
    # the sign-in count is its own: the tills on this computer still post
    status, body, _ = await utility.post(invoice("THROTTLE-1"))
    assert status == 201, body


async def test_a_tills_wrong_keys_do_not_lock_the_shopkeeper_out(browser, utility):
    for _ in range(MAX_FAILURES):
        assert (await utility.post(invoice("X", key="wrong")))[0] == 401
    assert (await utility.post(invoice("Y")))[0] == 429  # the POS API's throttle
    status, body, _ = await browser.sign_in()
    assert status == 200, body


async def test_sign_out_ends_the_session_and_clears_the_cookie(browser):
    await browser.sign_in()
    token = browser.cookie()
    assert token
    status, body, response = await browser.call("DELETE", "/api/session",
                                                headers={"X-CSRF-Token": browser.csrf})
    assert status == 200, body
    cleared = set_cookie(response)["rims_session"]
    assert cleared.value == "" and cleared["max-age"] == "0"
    assert (await browser.call("GET", "/api/session"))[0] == 401
    # the old token is dead on the server too, not just forgotten by this browser
    async with browser_of_token(browser, token) as replay:
        status, body, _ = await replay.call("GET", "/api/dashboard/sending")
        assert status == 401 and "session" in body["errors"]


@contextlib.asynccontextmanager
async def browser_of_token(browser: Browser, token: str) -> AsyncIterator[Browser]:
    class Replay(Browser):
        def __init__(self):
            self.http = aiohttp.ClientSession(base_url=browser.base,
                                              headers={"Cookie": f"rims_session={token}"})
            self.csrf = None

    replay = Replay()
    try:
        yield replay
    finally:
        await replay.close()


async def test_sign_out_needs_the_csrf_token(browser):
    await browser.sign_in()
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        status, body, _ = await browser.call("DELETE", "/api/session", headers=headers)
        assert status == 403 and "csrf" in body["errors"], body
    assert (await browser.call("GET", "/api/session"))[0] == 200  # still signed in


@pytest.fixture
async def short_lived(tmp_path: Path, sandbox: KpraSandbox) -> AsyncIterator[Utility]:
    data_dir = tmp_path / "data"
    configure_pos(data_dir)
    running = await Utility(data_dir, sandbox, session_lifetime=1.0).start()
    yield running
    await running.stop()


async def test_a_session_expires(short_lived):
    async with browser_of(short_lived) as browser:
        status, body, response = await browser.sign_in()
        assert status == 200 and set_cookie(response)["rims_session"]["max-age"] == "1"
        token = browser.cookie()
        assert (await browser.call("GET", "/api/session"))[0] == 200
        await asyncio.sleep(1.2)
        async with browser_of_token(browser, token) as replay:  # a browser ignoring Max-Age
            status, body, response = await replay.call("GET", "/api/session")
            assert status == 401 and "session" in body["errors"]
            assert set_cookie(response)["rims_session"].value == ""  # cleared
            status, _, _ = await replay.call("POST", "/api/dashboard/sending",
                                             json={"paused": True},
                                             headers={"X-CSRF-Token": browser.csrf})
            assert status == 401


async def test_dashboard_actions_need_a_session_and_the_csrf_token(browser, utility):
    status, body, _ = await browser.call("GET", "/api/dashboard/sending")
    assert status == 401 and "session" in body["errors"]
    status, _, _ = await browser.call("POST", "/api/dashboard/sending", json={"paused": True})
    assert status == 401
    await browser.sign_in()
    status, body, response = await browser.call("GET", "/api/dashboard/sending")
    assert status == 200 and body["data"]["paused"] is False
    assert response.headers["Cache-Control"] == "no-store"
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "x" * 43},
                    {"X-CSRF-Token": browser.csrf + "x"}):
        status, body, _ = await browser.call("POST", "/api/dashboard/sending",
                                             json={"paused": True}, headers=headers)
        assert status == 403 and "X-CSRF-Token" in body["errors"]["csrf"], body
    assert (await utility.health())["upstream"]["sending_paused"] is False

    good = {"X-CSRF-Token": browser.csrf}
    status, body, _ = await browser.call("POST", "/api/dashboard/sending", json={"paused": True},
                                         headers=good)
    assert status == 200 and body["data"]["paused"] is True, body
    assert (await utility.health())["upstream"]["sending_paused"] is True
    status, body, _ = await browser.call("POST", "/api/dashboard/sending",
                                         json={"paused": "no"}, headers=good)
    assert status == 400 and "paused" in body["errors"]
    status, body, _ = await browser.call("POST", "/api/dashboard/sending", json={"paused": False},
                                         headers=good)
    assert status == 200 and body["data"]["paused"] is False
    assert (await utility.health())["upstream"]["sending_paused"] is False


async def test_a_cross_site_post_to_a_dashboard_action_is_refused(browser, utility):
    await browser.sign_in()
    good = {"X-CSRF-Token": browser.csrf}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        status, body, _ = await browser.call("POST", "/api/dashboard/sending",
                                             json={"paused": True}, headers={**good, **headers})
        assert status == 403 and ("origin" in body["errors"] or "sec-fetch-site" in body["errors"])
    # and signing a browser in from another site (login CSRF)
    status, body, response = await browser.sign_in(headers={"Origin": "https://evil.example"})
    assert status == 403 and "origin" in body["errors"]
    assert "Set-Cookie" not in response.headers
    assert (await utility.health())["upstream"]["sending_paused"] is False
    # from the utility's own page, it works
    own = {"Origin": browser.base, "Sec-Fetch-Site": "same-origin"}
    status, _, _ = await browser.call("POST", "/api/dashboard/sending", json={"paused": False},
                                      headers={**good, **own})
    assert status == 200


PAGE_HEADERS = {"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


async def test_the_pages_are_served_with_security_headers_and_no_inline_script(browser):
    for path, marker in (("/login.html", 'id="sign-in"'), ("/dashboard.html", 'id="sign-out"')):
        async with browser.http.get(path) as response:
            assert response.status == 200 and response.content_type == "text/html"
            html = await response.text()
            for name, value in PAGE_HEADERS.items():
                assert response.headers[name] == value, (path, name)
            csp = response.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
        assert marker in html
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
        assert scripts and all('src="/web/' in attrs and not body.strip()
                               for attrs, body in scripts), "no inline script"
        assert not re.search(r"\son[a-z]+\s*=", html, re.I), "no inline event handlers"
        assert "http://" not in html and "https://" not in html, "no CDN, nothing external"
    async with browser.http.get("/login.html") as response:
        html = await response.text()
    for element in ('id="pos_id"', 'id="key"', 'type="password"', 'id="show-key"',
                    'id="error"', 'role="alert"', 'for="pos_id"', 'for="key"', "rims-utility setup"):
        assert element in html, element
    for name, content_type in (("style.css", "text/css"), ("session.js", "text/javascript")):
        async with browser.http.get(f"/web/{name}") as response:
            assert response.status == 200 and response.content_type == content_type
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await browser.call("GET", "/web/../settings.py"))[0] == 404
    assert (await browser.call("GET", "/web/nothing.js"))[0] == 404


async def test_home_keeps_its_one_line_and_the_pos_api_needs_no_session(browser, utility):
    async with browser.http.get("/") as response:
        text = await response.text()
    assert response.status == 200 and text.count("\n") == 1 and "is running" in text
    status, body, _ = await utility.post(invoice("NO-SESSION-1"))  # no cookie, no CSRF header
    assert status == 201, body
    assert (await utility.status_of("NO-SESSION-1"))["state"] in ("queued", "sending", "synced")
