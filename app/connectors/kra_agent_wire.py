"""KRA Agent API (seed 002) request documents, built from a row's ``detail`` (docs/KENYA.md).

Pure functions, so every request example of the document is reproduced by a unit test
(tests/unit/test_kra_agent_wire.py). Amounts are exact: the detail's decimal strings become JSON
numbers (ints when whole, exact decimals otherwise); nothing goes through a float.

Where we differ from the document's examples, on purpose:
- ``regrId``/``regrNm``/``modrId``/``modrNm`` are "RIMS Utility" (the examples say "Test");
- ``requestID`` is ``<pos>-<row id>-<step>``, stable across retries (docs/KENYA.md);
- a credit note's ``orgInvcNo`` is the original sale's ``invcNo`` (the example shows 0, which would
  not say which sale is refunded);
- ``insertStockIO`` sends ``cmcKey`` null (the agent knows the device by Client-ID; the utility
  never keeps the cmcKey) and ``custTin`` null (a stock movement has no customer);
- the credit note is sent without ``otp_code`` (the utility sends unattended; no OTP exists).
"""

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from app.domain.kenya_tax import cents, tax_of

REGISTRAR = "RIMS Utility"
BANDS = ("A", "B", "C", "D", "E")
NAIROBI = timezone(timedelta(hours=3))  # East Africa Time, no daylight saving

# docs/KENYA.md stock adjustment types → eTIMS stored-and-released type codes
SAR_TYPE = {"IN": "06", "RETURN": "03", "OUT": "16", "DAMAGE": "15"}


def num(value: Any) -> int | Decimal | None:
    """A detail's decimal string as the JSON number the agent expects: int when whole."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("not an amount")
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if amount == amount.to_integral_value():
        return int(amount)
    return amount.normalize()


def num0(value: Any) -> int | Decimal:
    result = num(value)
    return 0 if result is None else result


def compact_dt(date_time: str) -> str:
    """``YYYY-MM-DD HH:MM:SS`` → ``YYYYMMDDhhmmss``."""
    return datetime.strptime(date_time.strip(), "%Y-%m-%d %H:%M:%S").strftime("%Y%m%d%H%M%S")


def compact_date(date: str) -> str:
    """``YYYY-MM-DD`` (or a date-time) → ``YYYYMMDD``."""
    return datetime.strptime(date.strip()[:10], "%Y-%m-%d").strftime("%Y%m%d")


def nairobi_stamp(epoch: float) -> str:
    """An epoch time as the agent's compact local time (``lastReqDt``)."""
    return datetime.fromtimestamp(epoch, NAIROBI).strftime("%Y%m%d%H%M%S")


def request_id(pos_id: str, record_id: int, step: str) -> str:
    """Stable across retries: the agent answers a repeated requestID with its first answer."""
    return f"{pos_id}-{record_id}-{step}"


def _whole_or_text(number: str) -> int | str:
    """The till's number as the example shows it: a JSON integer when it is one (1414)."""
    text = str(number)
    if text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0")):
        return int(text)
    return text


def product(detail: dict[str, Any], last_req_dt: str) -> dict[str, Any]:
    """One product of ``POST /productSave`` from an ``item`` detail."""
    price = num(detail.get("unit_price"))
    return {
        "lastReqDt": last_req_dt,
        "itemCd": detail["item_code"],
        "itemClsCd": detail.get("item_class_code"),
        "itemTyCd": str(detail.get("item_type") or "1"),
        "itemNm": detail["item_name"],
        "itemStdNm": None,
        "orgnNatCd": detail.get("origin_country") or "KE",
        "pkgUnitCd": detail.get("pkg_unit"),
        "qtyUnitCd": detail.get("qty_unit"),
        "taxTyCd": detail.get("tax_type"),
        "btchNo": None,
        "bcd": detail.get("barcode"),
        "dftPrc": price,
        "grpPrcL1": price,
        "grpPrcL2": price,
        "grpPrcL3": price,
        "grpPrcL4": price,
        "grpPrcL5": None,
        "addInfo": None,
        "sftyQty": None,
        "isrcAplcbYn": "N",
        "useYn": "Y",
        "regrId": REGISTRAR,
        "regrNm": REGISTRAR,
        "modrId": REGISTRAR,
        "modrNm": REGISTRAR,
    }


def products(details: list[dict[str, Any]], last_req_dt: str) -> dict[str, Any]:
    """The ``products`` form field of ``POST /productSave``."""
    return {"products": [product(detail, last_req_dt) for detail in details]}


def _item(line: dict[str, Any]) -> dict[str, Any]:
    quantity = num0(line.get("quantity"))
    return {
        "itemSeq": int(line["seq"]),
        "itemCd": line["item_code"],
        "itemClsCd": line.get("item_class_code"),
        "itemNm": line.get("item_name"),
        "bcd": line.get("barcode"),
        "pkgUnitCd": line.get("pkg_unit"),
        "pkg": num(line["package_quantity"]) if line.get("package_quantity") else quantity,
        "qtyUnitCd": line.get("qty_unit"),
        "qty": quantity,
        "prc": num0(line.get("unit_price")),
        "splyAmt": num0(line.get("supply_amount")),
        "dcRt": num0(line.get("discount_rate")),
        "dcAmt": num0(line.get("discount_amount")),
        "isrccCd": None,
        "isrccNm": None,
        "isrcRt": None,
        "isrcAmt": None,
        "taxTyCd": line.get("tax_type"),
        "taxblAmt": num0(line.get("taxable_amount")),
        "taxAmt": num0(line.get("tax_amount")),
        "totAmt": num0(line.get("gross_amount")),
    }


def sale(detail: dict[str, Any], *, invc_no: int, org_invc_no: int | str = 0,
         credit: bool | None = None) -> dict[str, Any]:
    """The ``sales`` form field: ``POST /sale`` for an ``invoice`` detail, ``POST
    /saveTrnsSalesOsdc`` (a refund receipt) for a ``credit_note`` detail (``credit``: default
    from the detail's ``kind``)."""
    if credit is None:
        credit = detail.get("kind") == "credit_note"
    stamp = compact_dt(detail["date_time"])
    # a refund keeps the sale's own dates when the detail has them, and is dated itself
    sold_at = compact_dt(detail["original_date_time"]) if detail.get("original_date_time") \
        else stamp
    bands = detail.get("bands") or {}
    totals = detail.get("totals") or {}
    document: dict[str, Any] = {
        "trdInvcNo": str(detail["credit_note_no"]) if credit
        else _whole_or_text(detail["invoice_no"]),
        "invcNo": invc_no,
        "orgInvcNo": org_invc_no if credit else 0,
        "custTin": detail.get("customer_pin") or None,
        "custNm": detail.get("customer_name") or None,
        "salesTyCd": detail.get("sales_type") or "N",
        "rcptTyCd": "R" if credit else "S",
        "pmtTyCd": detail.get("payment_type") or "01",
        "salesSttsCd": "05" if credit else "02",
        "cfmDt": sold_at,
        "salesDt": sold_at[:8],
        "stockRlsDt": sold_at,
        "cnclReqDt": stamp if credit else None,
        "cnclDt": stamp if credit else None,
        "rfdDt": stamp if credit else None,
        "rfdRsnCd": (detail.get("reason_code") or "06") if credit else None,
        "totItemCnt": len(detail.get("lines") or []),
    }
    for prefix, key in (("taxblAmt", "taxable"), ("taxRt", "rate"), ("taxAmt", "tax")):
        for band in BANDS:
            document[f"{prefix}{band}"] = num0((bands.get(band) or {}).get(key))
    document.update({
        "totTaxblAmt": num0(totals.get("taxable")),
        "totTaxAmt": num0(totals.get("tax")),
        "totAmt": num0(totals.get("gross")),
        "prchrAcptcYn": "N",
        "remark": None,
        "regrId": REGISTRAR,
        "regrNm": REGISTRAR,
        "modrId": REGISTRAR,
        "modrNm": REGISTRAR,
        "receipt": {
            "custTin": detail.get("customer_pin") or None,
            "custMblNo": detail.get("customer_phone") or None,
            "rcptPbctDt": stamp,
            "trdeNm": None,
            "adrs": None,
            "topMsg": None,
            "btmMsg": None,
            "prchrAcptcYn": "N",
        },
        "itemList": [_item(line) for line in detail.get("lines") or []],
    })
    return document


def stock_tax(detail: dict[str, Any], taxable: Decimal | None = None) -> Decimal:
    """A stock line's tax: the detail's own ``tax_amount`` when it has one, else the document's
    stock example: tax included in the cost, rounded half-up to cents (35000 at 18 % → 5338.98).
    ``taxable``: the line's _stock_taxable, when already computed."""
    if detail.get("tax_amount") not in (None, ""):
        return Decimal(str(detail["tax_amount"]))
    if taxable is None:
        taxable = _stock_taxable(detail)
    rate = Decimal(str(detail.get("tax_rate") or "0"))
    return cents(tax_of(taxable, rate, bool(detail.get("prices_include_tax", True))))


def _stock_taxable(detail: dict[str, Any]) -> Decimal:
    return Decimal(str(detail.get("quantity") or "0")) * Decimal(str(detail.get("unit_cost") or "0"))


def stock_io(details: list[dict[str, Any]], *, sar_no: int, tin: str,
             branch_id: str = "00") -> dict[str, Any]:
    """The ``data`` form field of ``POST /insertStockIO`` (one row's movement; the document's
    example has two items, so this takes a list)."""
    first = details[0]
    items = []
    total_taxable = total_tax = Decimal(0)
    for seq, detail in enumerate(details, start=1):
        taxable = _stock_taxable(detail)
        tax = stock_tax(detail, taxable)
        total_taxable += taxable
        total_tax += tax
        quantity = num0(detail.get("quantity"))
        items.append({
            "itemSeq": seq,
            "itemCd": detail["item_code"],
            "itemClsCd": detail.get("item_class_code"),
            "itemNm": detail.get("item_name"),
            "bcd": None,
            "pkgUnitCd": detail.get("pkg_unit"),
            "pkg": quantity,
            "qtyUnitCd": detail.get("qty_unit"),
            "qty": quantity,
            "itemExprDt": None,
            "prc": num0(detail.get("unit_cost")),
            "splyAmt": num0(taxable),
            "totDcAmt": 0,
            "taxblAmt": num0(taxable),
            "taxTyCd": detail.get("tax_type"),
            "taxAmt": num0(tax),
            "totAmt": num0(taxable),
        })
    return {
        "tin": tin,
        "cmcKey": None,
        "bhfId": branch_id,
        "sarNo": sar_no,
        "orgSarNo": sar_no,
        "regTyCd": "M",
        "custTin": None,
        "custNm": None,
        "custBhfId": None,
        "sarTyCd": SAR_TYPE[str(first.get("adjustment_type", "IN")).upper()],
        "ocrnDt": compact_date(first["date"]),
        "totItemCnt": len(details),
        "totTaxblAmt": num0(total_taxable),
        "totTaxAmt": num0(total_tax),
        "totAmt": num0(total_taxable),
        "remark": first.get("reference") or None,
        "regrId": REGISTRAR,
        "regrNm": REGISTRAR,
        "modrId": REGISTRAR,
        "modrNm": REGISTRAR,
        "itemList": items,
    }


def stock_master(detail: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` form field of ``POST /saveStockMaster``: the item's stock after the move."""
    return {
        "itemCd": detail["item_code"],
        "rsdQty": num0(detail.get("remaining_quantity")),
        "regrId": REGISTRAR,
        "regrNm": REGISTRAR,
        "modrId": REGISTRAR,
        "modrNm": REGISTRAR,
    }


# -- whole requests from a row (what the connector posts; tests compare them with the document) --

STEPS = {"item": "item", "invoice": "sale", "credit_note": "credit"}


def _dumps(document: object) -> str:
    from app.domain import wire_json  # exact decimals as JSON numbers

    return wire_json.dumps(document)


def original_invc_no(record: Any) -> int | str:
    """A credit note's ``orgInvcNo``: the original row's transaction_id (the agent's
    ``invoiceNo`` = our ``invcNo``), from ``record.refs``. KeyError when it has none."""
    original = str(record.detail["original_invoice_no"])
    _ref, number = record.refs.get(original, (None, None))
    if not number:
        raise KeyError(f"the original sale {original} has no KRA invoice number recorded")
    return int(number) if str(number).isdigit() else str(number)


def item_form(record: Any) -> dict[str, str]:
    """``POST /productSave`` form fields for an ``item`` row."""
    return {"products": _dumps(products([record.detail], nairobi_stamp(record.received_at))),
            "requestID": request_id(record.pos_id, record.id, "item")}


def sale_document(record: Any, org_invc_no: int | str | None = None) -> dict[str, Any]:
    """The ``sales`` document of an ``invoice`` or ``credit_note`` row. ``org_invc_no``: a credit
    note's original_invc_no when the caller has it already (else it is looked up; KeyError)."""
    credit = record.kind == "credit_note"
    if credit and org_invc_no is None:
        org_invc_no = original_invc_no(record)
    return sale(record.detail, invc_no=record.id, org_invc_no=org_invc_no if credit else 0,
                credit=credit)


def sale_form(record: Any, document: dict[str, Any] | None = None) -> dict[str, str]:
    """``POST /sale`` (invoice) or ``POST /saveTrnsSalesOsdc`` (credit note) form fields
    (``document``: the row's sale_document, when already built)."""
    if document is None:
        document = sale_document(record)
    return {"sales": _dumps(document),
            "requestID": request_id(record.pos_id, record.id, STEPS[record.kind])}


def stock_forms(record: Any, branch_id: str = "00") -> tuple[dict[str, str], dict[str, str]]:
    """``POST /insertStockIO`` then ``POST /saveStockMaster`` form fields for a ``stock`` row,
    each with its own stable requestID."""
    moved = {"data": _dumps(stock_io([record.detail], sar_no=record.id, tin=record.ntn,
                                     branch_id=branch_id)),
             "requestID": request_id(record.pos_id, record.id, "stockio")}
    master = {"data": _dumps(stock_master(record.detail)),
              "requestID": request_id(record.pos_id, record.id, "stockmaster")}
    return moved, master
