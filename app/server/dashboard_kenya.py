"""What the dashboard shows of Kenya's documents (docs/KENYA.md): the kinds, the authority's
name, a row's lines, tax bands, customer and receipt link, what it waits for, and the per-band
report. KPRA rows get the same fields, empty, so the JSON API has one shape in every mode."""

import asyncio
from decimal import Decimal, InvalidOperation

from aiohttp import web

from app.domain import qr
from app.domain.kenya import exchange_rate_of
from app.domain.kenya_tax import in_home_currency
from app.domain.kenya_validation import KRA_PIN
from app.domain.money import plain
from app.domain.states import State
from app.server.dashboard_query import KIND_PREFIXES as PREFIXES
from app.server.dashboard_query import KINDS, PAYMENT_MODES, whole_number
from app.server.dashboard_query import payment_mode_name as mode_name
from app.server.invoice_api import DEPS
from app.server.responses import error, success
from app.store.listing import Cursor, InvoiceFilter
from app.store.records import InvoiceRecord

KENYA_UPSTREAMS = ("kra-agent", "protax")
MONEY_KINDS = ("invoice", "credit_note")  # item and stock rows carry no money (all zero)
BANDS = ("A", "B", "C", "D", "E")
AUTHORITIES = {"kpra": "KPRA RIMS", "kra-agent": "KRA eTIMS via KRA Agent",
               "protax": "KRA eTIMS via ProTax"}
SIGNER = {"kpra": "KPRA", "kra-agent": "KRA eTIMS", "protax": "KRA eTIMS"}
RECEIPT_LINK = {"kra-agent": "Open on KRA's invoice checker",
                "protax": "Open ProTax's receipt QR page"}
CURRENCY = "KES"
# A KRA PIN: a letter (A individuals, P companies…), nine digits, a check letter: the domain's
# rule (the look-up upper-cases what is typed first).
PIN = KRA_PIN
LOOKUP_ABSENT = {
    "kpra": "KPRA has no customer look-up.",
    "kra-agent": "The KRA Agent API has no customer PIN look-up (its document offers none); "
                 "check a buyer's PIN on KRA's iTax PIN checker instead.",
}
BAND_PAGE = 500
# A Kenya row's payment_mode is its eTIMS payment type's number (app/domain/kenya.py: "06" → 6).
KENYA_PAYMENT_MODES = {1: "Cash", 2: "Credit", 3: "Cash/credit", 4: "Bank cheque", 5: "Card",
                       6: "Mobile money", 7: "Other"}


def kenya(upstream: str) -> bool:
    return upstream in KENYA_UPSTREAMS


def payment_modes(upstream: str) -> dict[int, str]:
    """The authority's payment modes, by the number a row stores: KPRA's 1 Cash, 2 Card."""
    return KENYA_PAYMENT_MODES if kenya(upstream) else PAYMENT_MODES


def payment_mode_name(mode: int, upstream: str) -> str:
    return mode_name(mode, payment_modes(upstream))


def own_number(r: InvoiceRecord) -> str:
    """The document's own number: the row's invoice_no without its kind's prefix."""
    prefix = PREFIXES.get(r.kind, "")
    return r.invoice_no[len(prefix):] if prefix and r.invoice_no.startswith(prefix) else \
        r.invoice_no


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(value: object) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return number if number.is_finite() else Decimal(0)


def _signed(value: object, negative: bool) -> str:
    """A money text of the detail, negative for a credit note (the row's columns are)."""
    number = _decimal(value)
    return plain(-abs(number) if negative else number)


def row_fields(r: InvoiceRecord) -> dict[str, object]:
    """What the list shows besides KPRA's columns."""
    d = r.detail or {}
    is_kenya = r.detail is not None
    return {
        "kind": r.kind, "kind_name": KINDS.get(r.kind, r.kind), "number": own_number(r),
        "has_money": r.kind in MONEY_KINDS,
        "currency": (_text(d.get("currency")) or CURRENCY) if is_kenya else None,
        "customer_pin": _text(d.get("customer_pin")),
        "customer_name": _text(d.get("customer_name")),
        "original_invoice_no": _text(d.get("original_invoice_no")),
        "item_code": _text(d.get("item_code")) if r.kind in ("item", "stock") else None,
        "item_name": _text(d.get("item_name")) if r.kind in ("item", "stock") else None,
        "upstream_ref": r.upstream_ref, "receipt_url": r.receipt_url,
    }


def _lines(d: dict, negative: bool) -> list[dict[str, object]]:
    out = []
    for n, line in enumerate(d.get("lines") or [], 1):
        if not isinstance(line, dict):
            continue
        out.append({
            "seq": line.get("seq") if isinstance(line.get("seq"), int) else n,
            "item_code": _text(line.get("item_code")) or "",
            "item_name": _text(line.get("item_name")) or "",
            "quantity": plain(_decimal(line.get("quantity"))),
            "unit_price": plain(_decimal(line.get("unit_price"))),
            "discount_amount": _signed(line.get("discount_amount"), negative),
            "tax_type": _text(line.get("tax_type")) or "",
            "tax_rate": plain(_decimal(line.get("tax_rate"))),
            "tax_amount": _signed(line.get("tax_amount"), negative),
            "total": _signed(line.get("gross_amount", line.get("taxable_amount")), negative),
        })
    return out


def _in_kes(value: object, rate: Decimal) -> Decimal:
    """A figure of the detail (the sale's currency) in KES, as the row's money columns are."""
    return in_home_currency(_decimal(value), rate)


def _bands(d: dict, negative: bool, rate: Decimal | None = None) -> list[dict[str, object]]:
    """The detail's bands, in the sale's currency; in KES when ``rate`` (its exchange rate)."""
    bands = d.get("bands") if isinstance(d.get("bands"), dict) else {}
    if rate is not None:
        bands = {k: {**b, "taxable": _in_kes(b.get("taxable"), rate),
                     "tax": _in_kes(b.get("tax"), rate)}
                 for k, b in bands.items() if isinstance(b, dict)}
    out = []
    for band in BANDS:
        b = bands.get(band)
        if not isinstance(b, dict):
            continue
        rate = _text(b.get("rate")) or "0"
        out.append({"band": band, "rate": rate,
                    "taxable": _signed(b.get("taxable"), negative),
                    "tax": _signed(b.get("tax"), negative)})
    return out


def band_list(r: InvoiceRecord) -> list[dict[str, object]]:
    """A row's bands in KES, like its money columns (credit notes negative); none for KPRA
    rows, items and stock."""
    if r.kind not in MONEY_KINDS or not r.detail:
        return []
    return _bands(r.detail, r.kind == "credit_note", exchange_rate_of(r.detail))


def _document(r: InvoiceRecord, d: dict) -> dict[str, object] | None:
    """An item's or stock adjustment's own fields, as label → text (they have no money)."""
    if r.kind == "item":
        names = (("item_code", "Item code"), ("item_name", "Item name"),
                 ("item_class_code", "Item class"), ("tax_type", "Tax band"),
                 ("unit_price", "Unit price"), ("pkg_unit", "Packaging unit"),
                 ("qty_unit", "Quantity unit"), ("origin_country", "Country of origin"))
    elif r.kind == "stock":
        names = (("reference", "Reference"), ("item_code", "Item code"),
                 ("item_name", "Item name"), ("adjustment_type", "Adjustment"),
                 ("quantity", "Quantity"), ("date", "Date"), ("unit_cost", "Unit cost"),
                 ("remaining_quantity", "Remaining quantity"), ("tax_type", "Tax band"))
    else:
        return None
    return {label: str(d[key]) for key, label in names if _text(d.get(key)) is not None}


def _needs(r: InvoiceRecord, d: dict) -> list[tuple[str, str]]:
    """(kind, invoice_no) of each row this one must wait for (docs/KENYA.md)."""
    if r.kind == "credit_note":
        original = _text(d.get("original_invoice_no"))
        return [("invoice", original)] if original else []
    codes: list[str] = []
    if r.kind == "invoice":
        codes = [_text(line.get("item_code")) or "" for line in d.get("lines") or []
                 if isinstance(line, dict)]
    elif r.kind == "stock":
        codes = [_text(d.get("item_code")) or ""]
    seen: list[tuple[str, str]] = []
    for code in codes:
        if code and ("item", f"item:{code}") not in seen:
            seen.append(("item", f"item:{code}"))
    return seen


async def waiting_for(store, r: InvoiceRecord,
                      known: dict[str, InvoiceRecord | None] | None = None
                      ) -> list[dict[str, object]]:
    """The rows this one still waits for (not synced yet), each with a sentence. ``known``:
    rows already read, by invoice_no (not read again)."""
    known = known or {}
    if r.detail is None or r.state is State.SYNCED:
        return []
    out = []
    for kind, number in _needs(r, r.detail):
        other = known[number] if number in known else await store.get_invoice(r.pos_id, number)
        if other is None or other.state is State.SYNCED:
            continue
        shown = own_number(other)
        what = (f"item {shown} to be registered" if kind == "item"
                else f"invoice {shown} to be accepted")
        if other.state is State.REJECTED:
            message = f"waiting for {what}, but it was rejected: fix that first"
        elif other.state is State.HELD:
            message = f"waiting for {what} (it is held: the POS's key needs fixing)"
        else:
            message = f"waiting for {what}"
        out.append({"invoice_id": other.id, "invoice_no": shown, "kind": other.kind,
                    "state": other.state.value, "message": message})
    return out


def detail_fields(r: InvoiceRecord, upstream: str) -> dict[str, object]:
    """What the detail page shows besides KPRA's fields (waiting_for and original_invoice_id
    need the store: linked() fills them in)."""
    d = r.detail or {}
    negative = r.kind == "credit_note"
    totals = d.get("totals") if isinstance(d.get("totals"), dict) else {}
    base = f"/api/dashboard/invoices/{r.id}/receipt-qr"
    return {
        "lines": _lines(d, negative),
        "bands": _bands(d, negative),
        "band_totals": {k: _signed(totals.get(k), negative)
                        for k in ("taxable", "tax", "net", "gross")} if totals else None,
        # the sale's currency (row_fields' currency) per KES: band_totals × this = the row's
        # money columns (in KES); "1" for a KES sale, None for rows without money
        "exchange_rate": plain(exchange_rate_of(d)) if r.detail is not None
        and r.kind in MONEY_KINDS else None,
        "credit_note_no": _text(d.get("credit_note_no")) if r.kind == "credit_note" else None,
        "original_invoice_id": None,
        "reason": _text(d.get("reason")),
        "document": _document(r, d),
        "waiting_for": [],
        "receipt_link_text": (RECEIPT_LINK.get(upstream) or "Open the receipt link")
        if r.receipt_url else None,
        "receipt_qr_svg": f"{base}.svg" if r.receipt_url else None,
        "receipt_qr_png": f"{base}.png" if r.receipt_url else None,
    }


async def linked(store, r: InvoiceRecord, detail: dict[str, object]) -> dict[str, object]:
    """``detail`` with what the rows around this one say: what it waits for, and a credit
    note's original invoice (its id, for the link)."""
    if r.detail is None:
        return detail
    number = _text(r.detail.get("original_invoice_no")) if r.kind == "credit_note" else None
    original = await store.get_invoice(r.pos_id, number) if number else None
    known = {number: original} if number else {}
    return detail | {"waiting_for": await waiting_for(store, r, known),
                     "original_invoice_id": original.id if original else None}


# ------------------------------------------------------------------------ routes

def authority(request: web.Request) -> dict[str, object]:
    deps = request.app[DEPS]
    upstream = deps.upstream
    key_mode = deps.key_mode if upstream == "protax" else None
    name = AUTHORITIES.get(upstream, deps.upstream_name)
    if upstream == "protax" and key_mode:
        name += f" ({key_mode.upper()} key)"
    return {"upstream": upstream, "kenya": kenya(upstream), "authority": name,
            "signer": SIGNER.get(upstream, deps.upstream_name),
            "key_mode": key_mode, "currency": CURRENCY if kenya(upstream) else None,
            "practice": deps.practice,
            "customer_lookup": deps.lookup_customer is not None and upstream == "protax",
            "customer_lookup_absent": None if upstream == "protax" else
            LOOKUP_ABSENT.get(upstream, "Not offered here."),
            "payment_modes": [{"payment_mode": m, "payment_mode_name": n}
                              for m, n in payment_modes(upstream).items()]}


async def get_authority(request: web.Request) -> web.Response:
    """GET /api/dashboard/authority: which tax authority this utility reports to."""
    data = authority(request)
    return success(200, f"Reporting to {data['authority']}.", data)


async def lookup_customer(request: web.Request) -> web.Response:
    """GET /api/dashboard/customers?pin=P051234567A (ProTax only): the registered business."""
    deps = request.app[DEPS]
    pin = request.query.get("pin", "").strip().upper()
    if deps.upstream != "protax" or deps.lookup_customer is None:
        why = LOOKUP_ABSENT.get(deps.upstream, "ProTax is not configured here.")
        return error(404, f"Customer PIN look-up is offered with ProTax only. {why}",
                     {"pin": "no look-up with this tax authority"})
    if not PIN.fullmatch(pin):
        return error(400, "A KRA PIN is a letter, 9 digits and a letter, like P051234567A.",
                     {"pin": "must be a letter, 9 digits and a letter (P051234567A)"})
    try:
        found = await deps.lookup_customer(pin)
    except Exception as why:  # the facade's words: unreachable, key refused…
        return error(502, f"ProTax could not be asked about {pin}: {why}",
                     {"pin": "look-up failed; try again"}, headers={"Retry-After": "10"})
    if not found:
        return success(200, f"ProTax knows no taxpayer with PIN {pin}.",
                       {"pin": pin, "found": False, "name": None, "details": {}})
    name = _text(found.get("name") or found.get("business_name")
                 or found.get("taxpayer_name")) or ""
    details = {str(k): str(v) for k, v in found.items()
               if isinstance(v, str | int | float) and not isinstance(v, bool)}
    return success(200, f"{pin} is registered to {name or 'a taxpayer'}.",
                   {"pin": pin, "found": True, "name": name, "details": details})


async def receipt_qr(request: web.Request) -> web.Response:
    """GET /api/dashboard/invoices/{invoice_id}/receipt-qr.{svg|png}: the receipt's QR code:
    Kenya's receipt link (KRA's invoice checker, ProTax's qr_code_url) once the invoice is
    signed; for KPRA, KPRA's verification address (as GET /api/qr)."""
    text, fmt = request.match_info["invoice_id"], request.match_info["format"]
    if fmt not in ("svg", "png"):
        return error(404, "The receipt QR is .svg or .png.", {"format": "must be svg or png"})
    found = await request.app[DEPS].store.invoice_with_attempts(int(text)) \
        if whole_number(text) else None
    record = found[0] if found else None
    if record is None:
        return error(404, f"There is no invoice with id {text[:30]} here.",
                     {"invoice_id": "no such invoice"})
    if record.detail is None:  # KPRA: the receipt's QR is KPRA's verification address
        target = qr.qr_url(record.pos_id, record.invoice_no)
    elif record.receipt_url:
        target = record.receipt_url
    elif record.kind in MONEY_KINDS:
        return error(404, "The receipt QR appears once KRA eTIMS has signed the invoice.",
                     {"invoice_id": "not signed yet"})
    else:
        return error(404, "Item registrations and stock adjustments have no receipt.",
                     {"invoice_id": "no receipt for this kind"})
    draw, media = (qr.qr_svg, "image/svg+xml") if fmt == "svg" else (qr.qr_png, "image/png")
    return web.Response(body=await asyncio.to_thread(draw, target), content_type=media,
                        headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------------ the band report

def add_bands(sums: dict[str, dict[str, object]], records: list[InvoiceRecord]) -> None:
    """Add each sale's and credit note's detail bands to ``sums`` (band → rate, taxable, tax,
    documents), in KES; credit notes subtract."""
    for r in records:
        if r.kind not in MONEY_KINDS or not r.detail:
            continue
        for b in band_list(r):  # in KES: a USD sale's bands × its exchange rate
            entry = sums.setdefault(b["band"], {"rate": b["rate"], "taxable": Decimal(0),
                                                "tax": Decimal(0), "count": 0})
            entry["taxable"] += Decimal(b["taxable"])
            entry["tax"] += Decimal(b["tax"])
            if Decimal(b["taxable"]) or Decimal(b["tax"]):
                entry["count"] += 1


async def band_sums(store, f: InvoiceFilter) -> dict[str, dict[str, object]]:
    """Per band, over every sale and credit note ``f`` matches, page by page (memory stays
    bounded): rate, taxable, tax, count."""
    sums: dict[str, dict[str, object]] = {}
    after: Cursor | None = None
    while True:
        records, after = await store.list_invoices(f, BAND_PAGE, after)
        add_bands(sums, records)
        if after is None:
            return dict(sorted(sums.items()))
