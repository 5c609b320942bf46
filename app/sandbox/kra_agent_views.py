"""How the KRA Agent sandbox shows what it holds: the seed's response shapes, field for field.

Read-backs write money as "10500.00" strings and rates as "18.00" (saleGet, saleShow,
stockGet), while the POSTed documents carry plain numbers. Times follow the seed: ISO with
microseconds and "Z" (`created_at`), Nairobi local time as "YYYY-MM-DD hh:mm:ss"
(`lastUpdatedToKRA` of products and stock), and the `_str` variants as
"YYYY-DD-MM hh:mmAM" (day before month: that is what the seed shows).
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
from typing import Any

from app.sandbox.kra_agent_checks import BANDS, money, text

NAIROBI = dt.timezone(dt.timedelta(hours=3))
PRODUCT_KEYS = (
    "lastReqDt", "itemCd", "itemClsCd", "itemTyCd", "itemNm", "itemStdNm", "orgnNatCd",
    "pkgUnitCd", "qtyUnitCd", "taxTyCd", "btchNo", "bcd", "dftPrc", "grpPrcL1", "grpPrcL2",
    "grpPrcL3", "grpPrcL4", "grpPrcL5", "addInfo", "sftyQty", "isrcAplcbYn", "useYn", "regrId",
    "regrNm", "modrId", "modrNm",
)
POS_KEYS = ("id", "company_name", "integration_token", "callback_url", "kra_pin", "branch_id",
            "cmcKey", "type", "client_id", "client_secret", "dvc_srl_no")
_SALE_HEAD = ("trdInvcNo", "invcNo", "orgInvcNo", "custTin", "custNm", "salesTyCd", "rcptTyCd",
              "pmtTyCd", "salesSttsCd", "cfmDt", "salesDt", "stockRlsDt", "cnclReqDt", "cnclDt",
              "rfdDt", "rfdRsnCd", "totItemCnt")
_SALE_TAIL = ("prchrAcptcYn", "remark", "regrId", "regrNm", "modrId", "modrNm")
_RECEIPT = ("custTin", "custMblNo", "rcptPbctDt", "trdeNm", "adrs", "topMsg", "btmMsg",
            "prchrAcptcYn")
_ITEM_TEXT = ("itemCd", "itemClsCd", "itemNm", "bcd", "pkgUnitCd")
_ITEM_MONEY = ("prc", "splyAmt", "dcRt", "dcAmt")
_ISRC = ("isrccCd", "isrccNm")
_STOCK_HEAD = ("tin", "bhfId", "sarNo", "orgSarNo", "regTyCd", "custTin", "custNm", "custBhfId",
               "sarTyCd")
_STOCK_ITEM = ("itemSeq", "itemCd", "itemClsCd", "itemNm", "bcd", "pkgUnitCd", "pkg", "qtyUnitCd")


def iso_z(ts: float) -> str:
    return dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def local(ts: float) -> str:
    return dt.datetime.fromtimestamp(float(ts), NAIROBI).strftime("%Y-%m-%d %H:%M:%S")


def local_str(ts: float) -> str:
    return dt.datetime.fromtimestamp(float(ts), NAIROBI).strftime("%Y-%d-%m %I:%M%p")


def compact(ts: float) -> str:
    return dt.datetime.fromtimestamp(float(ts), NAIROBI).strftime("%Y%m%d%H%M%S")


def integer(value: Any) -> Any:
    """Digits as an int (the read-backs show trdInvcNo 50041 even when "50041" was sent)."""
    digits = text(value)
    return int(digits) if digits is not None and digits.isdigit() else value


def pos_view(pos: dict[str, Any]) -> dict[str, Any]:
    return {key: pos.get(key) for key in POS_KEYS}


def device_view(pos: dict[str, Any]) -> dict[str, Any]:
    device = pos["device"]
    serial = integer(pos["dvc_srl_no"])
    info = {
        "tin": pos["kra_pin"], "taxprNm": pos["company_name"], "bsnsActv": "business",
        "bhfId": pos["branch_id"], "bhfNm": "Headquater", "bhfOpenDt": "20200226",
        "prvncNm": "NAIROBI CITY", "dstrtNm": "WESTLANDS", "sctrNm": "WON",
        "locDesc": "Westlands Towers", "hqYn": "Y", "mgrNm": "sandbox manager",
        "mgrTelNo": "0700000000", "mgrEmail": "manager@example.com", "dvcId": device["dvcId"],
        "sdcId": device["sdicId"], "mrcNo": device["mrcNo"], "cmcKey": pos["cmcKey"],
    }
    raw = {"resultCd": "000", "resultMsg": "It is succeeded", "resultDt": compact(device["at"]),
           "data": {"info": info}}
    return {
        "id": pos["id"], "user_id": pos["user_id"], "company_name": pos["company_name"],
        "kra_pin": pos["kra_pin"], "integration_token": pos["integration_token"],
        "callback_url": pos["callback_url"], "type": pos["type"], "api_key": device["api_key"],
        "status": 1, "created_at": iso_z(pos["created"]), "updated_at": iso_z(device["at"]),
        "branch_id": pos["branch_id"], "dvc_srl_no": serial, "dvcId": device["dvcId"],
        "sdicId": device["sdicId"], "mrcNo": device["mrcNo"], "cmcKey": pos["cmcKey"],
        "statusFromKRA": "verified", "lastUpdatedToKRA": iso_z(device["at"]),
        "responseFromKRA": json.dumps(raw, separators=(",", ":")),
    }


def product_view(product: dict[str, Any], pos: dict[str, Any]) -> dict[str, Any]:
    fields = product["fields"]
    at = product["updated"]
    raw = {"resultCd": "000", "resultMsg": "Successful", "resultDt": compact(at), "data": None}
    return {
        "product_id": product["id"], "created_at": iso_z(product["created"]),
        "created_at_str": local_str(product["created"]), "tin": pos["kra_pin"],
        "bhf_id": None, "cmc_key": None,
        **{key: fields.get(key) for key in PRODUCT_KEYS},
        "kra_response": {
            "resultCd": "000", "resultMsg": "Successful", "statusFromKRA": "completed",
            "itemCode": None, "lastUpdatedToKRA": local(at), "lastUpdatedToKRA_str": local_str(at),
            "kraRawData": json.dumps(raw, separators=(",", ":")),
        },
    }


def checker_url(origin: str, sale: dict[str, Any]) -> str:
    return f"{origin}/kra-agent/sale/invoice-checker/{sale['checker']}"


def sale_view(sale: dict[str, Any], pos: dict[str, Any], origin: str) -> dict[str, Any]:
    doc = sale["doc"]
    view: dict[str, Any] = {"sale_id": sale["sale_id"], "tin": pos["kra_pin"],
                            "bhfId": pos["branch_id"], "cmcKey": pos["cmcKey"]}
    for key in _SALE_HEAD:
        value = doc.get(key)
        view[key] = integer(value) if key in ("trdInvcNo", "invcNo", "orgInvcNo") else value
    for prefix in ("taxblAmt", "taxRt", "taxAmt"):
        for band in BANDS:
            view[f"{prefix}{band}"] = money(doc.get(f"{prefix}{band}"))
    for key in ("totTaxblAmt", "totTaxAmt", "totAmt"):
        view[key] = money(doc.get(key))
    for key in _SALE_TAIL:
        view[key] = doc.get(key)
    receipt = doc.get("receipt") if isinstance(doc.get("receipt"), dict) else {}
    view["receipt"] = {key: receipt.get(key) for key in _RECEIPT}
    view["salesItems"] = [
        _sale_item(line, item_id, sale["sale_id"])
        for line, item_id in zip(doc["itemList"], sale["item_ids"], strict=False)
    ]
    view["kra_response"] = _sale_status(sale, origin)
    return view


def _sale_item(line: dict[str, Any], item_id: int, sale_id: int) -> dict[str, Any]:
    item: dict[str, Any] = {"sale_item_id": item_id, "sale_id": sale_id,
                            "itemSeq": line.get("itemSeq")}
    item.update({key: line.get(key) for key in _ITEM_TEXT})
    item["pkg"] = line.get("pkg")
    item["qtyUnitCd"] = line.get("qtyUnitCd")
    item["qty"] = money(line.get("qty"))
    item.update({key: money(line.get(key, 0)) for key in _ITEM_MONEY})
    item.update({key: line.get(key) for key in _ISRC})
    item["isrcRt"] = money(line.get("isrcRt"))
    item["isrcAmt"] = money(line.get("isrcAmt"))
    item["taxTyCd"] = line.get("taxTyCd")
    for key in ("taxblAmt", "taxAmt", "totAmt"):
        item[key] = money(line.get(key))
    return item


def _sale_status(sale: dict[str, Any], origin: str) -> dict[str, Any]:
    at = sale["completed_at"] or sale["received"]
    if sale["completed_at"] is None:
        code = message = None
        raw = "[]"
    else:
        code, message = "000", "Successful"
        signed = {"curRcptNo": sale["rcpt_no"], "totRcptNo": sale["rcpt_no"],
                  "intrlData": sale["intrl"], "rcptSign": sale["sign"], "sdcDateTime": compact(at)}
        inner = {"resultCd": code, "resultMsg": message, "resultDt": compact(at), "data": signed}
        raw = json.dumps({"data": inner, "resultCd": code, "resultMsg": message},
                         separators=(",", ":"))
    return {
        "statusFromKRA": sale_status(sale), "resultCd": code, "resultMsg": message,
        "lastUpdatedToKRA": iso_z(at), "lastUpdatedToKRA_str": local_str(at), "kraRawData": raw,
        "invoice_checker_url": checker_url(origin, sale),
    }


def sale_status(sale: dict[str, Any]) -> str:
    return "not_completed" if sale["completed_at"] is None else "completed"


def stock_view(stock: dict[str, Any]) -> dict[str, Any]:
    doc = stock["doc"]
    ocrn = str(doc.get("ocrnDt", ""))
    view: dict[str, Any] = {"id": stock["id"]}
    view.update({key: doc.get(key) for key in _STOCK_HEAD})
    view["ocrnDt"] = f"{ocrn[:4]}-{ocrn[4:6]}-{ocrn[6:8]}" if len(ocrn) == 8 else ocrn
    view["totItemCnt"] = doc.get("totItemCnt")
    for key in ("totTaxblAmt", "totTaxAmt", "totAmt"):
        view[key] = money(doc.get(key))
    view.update({key: doc.get(key) for key in _SALE_TAIL[1:]})
    items = []
    for line, item_id in zip(doc["itemList"], stock["item_ids"], strict=False):
        item: dict[str, Any] = {"id": item_id, **{key: line.get(key) for key in _STOCK_ITEM}}
        item["qty"] = money(line.get("qty"))
        item["itemExprDt"] = line.get("itemExprDt")
        for key in ("prc", "splyAmt", "totDcAmt", "taxblAmt"):
            item[key] = money(line.get(key, 0))
        item["taxTyCd"] = line.get("taxTyCd")
        item["taxAmt"] = money(line.get("taxAmt"))
        item["totAmt"] = money(line.get("totAmt"))
        items.append(item)
    view["itemList"] = items
    view["statusFromKRA"] = "not_completed"
    view["lastUpdatedToKRA"] = local(stock["received"])
    view["lastUpdatedToKRA_str"] = local_str(stock["received"])
    return view


ITEM_CLASSES = [
    {"itemClsCd": "5020220050", "itemClsNm": "Alcoholic beverages", "itemClsLvl": 5,
     "taxTyCd": "B", "mjrTgYn": "Y", "useYn": "Y"},
    {"itemClsCd": "80101500", "itemClsNm": "Business and corporate management consultation "
     "services", "itemClsLvl": 3, "taxTyCd": None, "mjrTgYn": None, "useYn": "Y"},
    {"itemClsCd": "9901300101", "itemClsNm": "Lubricants", "itemClsLvl": 5, "taxTyCd": "B",
     "mjrTgYn": "N", "useYn": "Y"},
    {"itemClsCd": "5059690800", "itemClsNm": "Other goods", "itemClsLvl": 5, "taxTyCd": "B",
     "mjrTgYn": "N", "useYn": "Y"},
    {"itemClsCd": "50111513", "itemClsNm": "Prepared meat", "itemClsLvl": 4, "taxTyCd": "D",
     "mjrTgYn": "N", "useYn": "Y"},
]

# What selectTrnsPurchaseSalesList "synchronizes from KRA": the seed's supplier invoice.
SUPPLIER_INVOICES = [{
    "spplrTin": "P052317759Q", "spplrNm": "NAIROBI BARBEQUE PIT MASTERS LIMITED",
    "spplrBhfId": "00", "spplrInvcNo": 81, "spplrSdcId": "KRACU0100053186",
    "spplrMrcNo": "KRA00163907", "rcptTyCd": "S", "pmtTyCd": "06",
    "cfmDt": "2024-07-07 19:32:25", "salesDt": "20240707", "stockRlsDt": None, "totItemCnt": 2,
    **{f"taxblAmt{b}": 3150 if b == "D" else 0 for b in BANDS},
    **{f"taxRt{b}": 0 for b in BANDS}, **{f"taxAmt{b}": 0 for b in BANDS},
    "totTaxblAmt": 3150, "totTaxAmt": 0, "totAmt": 3150, "remark": None,
    "itemList": [
        {"itemSeq": 1, "itemCd": "KE2BGXKGX0000001", "itemClsCd": "50111513",
         "itemNm": "Texas brisket", "bcd": None, "pkgUnitCd": "BG", "pkg": 0, "qtyUnitCd": "KG",
         "qty": 1, "prc": 3000, "splyAmt": 3000, "dcRt": 0, "dcAmt": 0, "taxTyCd": "D",
         "taxblAmt": 3000, "taxAmt": 0, "totAmt": 3000},
        {"itemSeq": 2, "itemCd": "KE2BGXGRM0000009", "itemClsCd": "50111513",
         "itemNm": "Normal fries", "bcd": None, "pkgUnitCd": "BG", "pkg": 0, "qtyUnitCd": "GRM",
         "qty": 1, "prc": 150, "splyAmt": 150, "dcRt": 0, "dcAmt": 0, "taxTyCd": "D",
         "taxblAmt": 150, "taxAmt": 0, "totAmt": 150},
    ],
}]


def checker_page(sale: dict[str, Any], pos: dict[str, Any]) -> str:
    """The small HTML page a receipt's QR code opens."""
    doc = sale["doc"]
    esc = html.escape
    title = "Credit note" if doc.get("rcptTyCd") == "R" else "Tax invoice"
    rows = "".join(
        f"<tr><td>{esc(str(line.get('itemNm')))}</td><td>{esc(str(money(line.get('qty'))))}</td>"
        f"<td>{esc(str(money(line.get('prc'))))}</td><td>{esc(str(line.get('taxTyCd')))}</td>"
        f"<td>{esc(str(money(line.get('totAmt'))))}</td></tr>"
        for line in doc["itemList"]
    )
    facts = [
        ("Seller", f"{pos['company_name']} (PIN {pos['kra_pin']})"),
        ("Invoice number", str(doc.get("invcNo"))),
        ("Trader invoice number", str(doc.get("trdInvcNo"))),
        ("Date", str(doc.get("cfmDt"))),
        ("Customer", f"{doc.get('custNm') or ''} {doc.get('custTin') or ''}".strip() or "-"),
        ("Taxable amount", str(money(doc.get("totTaxblAmt")))),
        ("Tax", str(money(doc.get("totTaxAmt")))),
        ("Total", str(money(doc.get("totAmt")))),
        ("Status at KRA", sale_status(sale)),
        ("Device", pos.get("device", {}).get("sdicId", "-") if pos.get("device") else "-"),
    ]
    facts_html = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>KRA invoice checker "
        f"(sandbox)</title></head><body><h1>{title} {esc(str(doc.get('invcNo')))}</h1>"
        "<p>Practice sandbox: this is not a real KRA invoice.</p>"
        f"<table>{facts_html}</table><h2>Items</h2><table><tr><th>Item</th><th>Qty</th>"
        f"<th>Price</th><th>Tax</th><th>Total</th></tr>{rows}</table></body></html>"
    )


def recorded_count(store: Any, kind: str, key: object) -> int:
    """See KraAgentSandbox.recorded_count."""
    wanted = str(key)
    if kind in ("sale", "credit_note"):
        return sum(s["kind"] == kind and text(s["doc"].get("trdInvcNo")) == wanted
                   for s in store["sales"].values())
    if kind == "product":
        return sum(text(p["fields"].get("itemCd")) == wanted
                   for p in store["products"].values())
    table, field = {"purchase": ("purchases", "invcNo"), "stock_io": ("stock_io", "sarNo"),
                    "stock_master": ("stock_master", "itemCd")}[kind]
    return sum(text(r["doc"].get(field)) == wanted for r in store[table].values())


def records(store: Any) -> dict[str, list[dict[str, Any]]]:
    """See KraAgentSandbox.records."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in
                                            ("sales", "credit_notes", "products",
                                             "purchases", "stock_io", "stock_master")}
    for sale in store["sales"].values():
        doc = sale["doc"]
        entry = {"sale_id": sale["sale_id"], "pos_id": sale["pos_id"],
                 "request_id": sale["request_id"], "trdInvcNo": doc.get("trdInvcNo"),
                 "invcNo": doc.get("invcNo"), "orgInvcNo": doc.get("orgInvcNo"),
                 "statusFromKRA": sale_status(sale), "sales": doc}
        if sale["kind"] == "credit_note":
            entry["original_sale_id"] = sale["original_sale_id"]
        out["sales" if sale["kind"] == "sale" else "credit_notes"].append(entry)
    for product in store["products"].values():
        out["products"].append({"product_id": product["id"], "pos_id": product["pos_id"],
                                "itemCd": product["fields"].get("itemCd"),
                                "request_id": product.get("request_id"),
                                "fields": product["fields"]})
    for table, id_name in (("purchases", "purchase_id"), ("stock_io", "stock_id"),
                           ("stock_master", "id")):
        for record in store[table].values():
            out[table].append({id_name: record["id"], "pos_id": record["pos_id"],
                               "request_id": record["request_id"], "data": record["doc"]})
    return copy.deepcopy(out)
