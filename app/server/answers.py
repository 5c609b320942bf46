"""The one JSON answer shape, as bytes: {"status", "message", "data"} on success and
{"status", "message", "errors"} on failure. Pure (no aiohttp): the writer process builds the
POS's intake answers with it too."""

from collections.abc import Mapping

from app.domain.wire_json import dumps_bytes

REASONS = {
    400: "Bad Request.",
    401: "Unauthorized.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method Not Allowed. Use POST.",
    413: "The request is too large (the limit is 64 KiB).",
    415: "Unsupported content type.",
    500: "Internal error in the utility; nothing was lost. Please try again.",
}


def success_body(status: int, message: str, data: Mapping[str, object]) -> bytes:
    return dumps_bytes({"status": status, "message": message, "data": data})


def error_body(status: int, message: str | None = None,
               errors: Mapping[str, str] | None = None) -> bytes:
    return dumps_bytes(
        {"status": status, "message": message or REASONS.get(status, "Error."),
         "errors": dict(errors or {})})
