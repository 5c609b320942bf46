"""The dashboard's static pages (resources/web/, no build step, no CDN), with the headers that
keep them from being framed, sniffed, cached or leaking the address they were opened from."""

import logging
from functools import cache

from aiohttp import web

from app.resources import web_dir
from app.server.responses import error

log = logging.getLogger(__name__)

PAGES = {"/login.html": "login.html", "/dashboard.html": "dashboard.html"}
ASSETS = {"style.css": "text/css", "session.js": "text/javascript",
          "dashboard.js": "text/javascript", "favicon.svg": "image/svg+xml"}
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@cache
def _read(name: str) -> bytes | None:
    try:
        return (web_dir() / name).read_bytes()
    except OSError as why:
        log.error("the dashboard file %s cannot be read: %s", name, why)
        return None


def _serve(name: str, content_type: str) -> web.Response:
    body = _read(name)
    if body is None:
        return error(404, f"{name} is missing from this installation of RIMS Utility; "
                          "reinstall it.", {"file": f"{name} not found"})
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=HEADERS)


async def page(request: web.Request) -> web.Response:
    """GET /login.html, /dashboard.html"""
    return _serve(PAGES[request.path], "text/html")


async def favicon(request: web.Request) -> web.Response:
    """GET /favicon.ico: browsers ask every site for it (e.g. on a JSON answer); the SVG icon."""
    return _serve("favicon.svg", ASSETS["favicon.svg"])


async def asset(request: web.Request) -> web.Response:
    """GET /web/{name}: the pages' style sheet, script and icon."""
    name = request.match_info["name"]
    if name not in ASSETS:
        return error(404, "No such file.", {"name": "not a file of the dashboard"})
    return _serve(name, ASSETS[name])
