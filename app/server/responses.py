"""The one JSON answer shape: {"status", "message", "data"} on success,
{"status", "message", "errors"} on failure, for every route and every error."""

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from app.server.answers import REASONS, error_body, success_body

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: bytes, status: int,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json",
                        headers=headers)


def success(status: int, message: str, data: Mapping[str, object],
            headers: Mapping[str, str] | None = None) -> web.Response:
    return json_response(success_body(status, message, data), status, headers)


def error(status: int, message: str | None = None, errors: Mapping[str, str] | None = None,
          headers: Mapping[str, str] | None = None) -> web.Response:
    return json_response(error_body(status, message, errors), status, headers)


@web.middleware
async def error_shape(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's own errors (404, 405, 413, …) and crashes into the one shape."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        message = REASONS.get(exc.status) if exc.status != 405 else _method_message(exc)
        return error(exc.status, message, headers=headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error(500)


def _method_message(exc: web.HTTPException) -> str:
    allowed = exc.headers.get("Allow", "")
    if allowed == "POST":
        return REASONS[405]
    return f"Method Not Allowed. Use {allowed or 'another method'}."
