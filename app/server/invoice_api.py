"""POST /api/invoice: check size and type, read the body, hand it to the writer process (which
parses, validates, authenticates and stores it with group commit: server/intake.py), answer."""

import logging
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from multidict import MultiDictProxy

from app.server import intake
from app.server.deps import ServerDeps
from app.server.intake import Answer, BadBody, Posted
from app.server.responses import error, json_response
from app.store.writer import StorageUnavailable

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DEPS = web.AppKey("deps", ServerDeps)
REPLAYED = {"Idempotent-Replayed": "true"}


def pos_handler(what: str, prepare: Callable) -> Callable:
    """The handler of one POS route (``what`` it takes, e.g. "invoice"): read the request, let
    the writer process take it with ``prepare`` (server/intake.py), answer."""
    async def post(request: web.Request) -> web.Response:
        deps = request.app[DEPS]
        try:
            posted = await read_posted(request)
        except BadBody as bad:
            return error(bad.status, bad.message, bad.errors)
        try:
            answer = await _intake(deps, posted, prepare)
            if answer.unauthorized and await deps.auth.reload():  # `setup` added or changed
                answer = await _intake(deps, posted, prepare)  # a POS meanwhile
        except StorageUnavailable as why:
            return error(503, f"The {what} was NOT saved: {why}. Free some disk space or fix "
                              "the data folder, then send it again.",
                         headers={"Retry-After": "5"})
        return respond(deps, answer)

    post.__name__ = post.__qualname__ = f"post_{what.replace(' ', '_')}"
    return post


async def _intake(deps: ServerDeps, posted: Posted, prepare: Callable) -> Answer:
    """Parsed, validated, authenticated and stored by the writer process."""
    return Answer._make(await deps.store.write_batched(intake.intake, posted, prepare))


post_invoice = pos_handler("invoice", intake.prepare)


def respond(deps: ServerDeps, answer: Answer) -> web.Response:
    if answer.created:
        deps.invoice_saved()
    elif answer.problem:
        log.error("invoice intake failed unexpectedly: %s", answer.problem)
    return json_response(answer.body, answer.status, REPLAYED if answer.replayed else None)


async def read_posted(request: web.Request) -> Posted:
    """The request as the writer process needs it: a JSON body as is, or a form's fields."""
    received_at = time.time()
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise BadBody(413, "The request is too large (the limit is 64 KiB).")
    content_type = request.content_type
    if content_type in JSON_TYPES or content_type.endswith("+json"):
        return await request.read(), None, received_at
    if content_type in FORM_TYPES:
        try:
            form = await request.post()
        except (ValueError, AssertionError, BadHttpMessage) as why:  # e.g. a bad part header
            raise BadBody(400, "The form data could not be read.",
                          {"body": f"is not valid form data: {why}"[:200]}) from None
        return None, _single_values(form), received_at
    shown = content_type or "none"
    raise BadBody(415, f"Unsupported Content-Type {shown!r}: send application/json, "
                       "application/x-www-form-urlencoded or multipart/form-data.",
                  {"content_type": "must be application/json or a form encoding"})


def _single_values(form: MultiDictProxy) -> dict[str, object]:
    fields: dict[str, object] = {}
    errors: dict[str, str] = {}
    for name in form:
        values = form.getall(name)
        if len(values) > 1:
            errors[name] = f"{name} was given {len(values)} times; send it once"
        elif not isinstance(values[0], str):
            errors[name] = f"{name} must be a plain value, not a file"
        else:
            fields[name] = values[0]
    if errors:
        raise BadBody(400, "Invoice not accepted: " + next(iter(errors.values())) + ".", errors)
    return fields
