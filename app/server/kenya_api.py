"""Kenya mode's other POS routes (docs/KENYA.md): POST /api/credit-note, /api/item and
/api/stock, handled as POST /api/invoice is (invoice_api.pos_handler): check size and type, read
the body, hand it to the writer process (server/intake.py parses, validates, authenticates and
stores it with group commit), answer. In KPRA mode the writer answers 404."""

from app.server import intake
from app.server.invoice_api import pos_handler

ROUTES = {
    "/api/credit-note": ("credit note", intake.prepare_credit_note),
    "/api/item": ("item", intake.prepare_item),
    "/api/stock": ("stock movement", intake.prepare_stock),
}

HANDLERS = {path: pos_handler(*spec) for path, spec in ROUTES.items()}
