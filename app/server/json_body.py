"""Reading a small JSON object from a dashboard request (the POS API has its own, richer reader
in invoice_api.py / intake.py). Errors come back as the one error shape's parts."""

import json

from aiohttp import web

JSON_TYPE = "application/json"


class BadJson(ValueError):
    def __init__(self, status: int, message: str, errors: dict[str, str]):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


async def json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object. Raises BadJson (415 another type, 400 not a JSON object).
    The body size is already bounded by the app's client_max_size."""
    if request.content_type != JSON_TYPE:
        raise BadJson(415, f"Send the request as {JSON_TYPE}.",
                      {"content_type": f"{request.content_type or 'none'} is not {JSON_TYPE}"})
    raw = await request.read()
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadJson(400, "The body is not valid JSON.", {"body": "not valid JSON"}) from None
    if not isinstance(value, dict):
        raise BadJson(400, "The body must be a JSON object.", {"body": "not a JSON object"})
    return value
