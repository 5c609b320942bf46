"""Kenya mode's other POS routes (docs/KENYA.md): POST /api/credit-note, /api/item and
/api/stock. Like POST /api/invoice (invoice_api.py): check size and type, read the body, hand it
to the writer process (server/intake.py parses, validates, authenticates and stores it with
group commit), answer. In KPRA mode the writer answers 404."""

from collections.abc import Callable

from aiohttp import web

from app.server import intake
from app.server.intake import Answer, BadBody, Posted
from app.server.invoice_api import DEPS, read_posted, respond
from app.server.responses import error
from app.store.writer import StorageUnavailable

ROUTES = {
    "/api/credit-note": ("credit note", intake.prepare_credit_note),
    "/api/item": ("item", intake.prepare_item),
    "/api/stock": ("stock movement", intake.prepare_stock),
}


def _handler(what: str, prepare: Callable) -> Callable:
    async def post(request: web.Request) -> web.Response:
        deps = request.app[DEPS]
        try:
            posted = await read_posted(request)
        except BadBody as bad:
            return error(bad.status, bad.message, bad.errors)

        async def _intake(posted: Posted) -> Answer:
            return Answer._make(await deps.store.write_batched(intake.intake, posted, prepare))

        try:
            answer = await _intake(posted)
            if answer.unauthorized and await deps.auth.reload():
                answer = await _intake(posted)  # `setup` added or changed a POS meanwhile
        except StorageUnavailable as why:
            return error(503, f"The {what} was NOT saved: {why}. Free some disk space or fix "
                              "the data folder, then send it again.",
                         headers={"Retry-After": "5"})
        return respond(deps, answer)

    post.__name__ = f"post_{what.replace(' ', '_')}"
    return post


post_credit_note = _handler(*ROUTES["/api/credit-note"])
post_item = _handler(*ROUTES["/api/item"])
post_stock = _handler(*ROUTES["/api/stock"])
HANDLERS = {"/api/credit-note": post_credit_note, "/api/item": post_item,
            "/api/stock": post_stock}
