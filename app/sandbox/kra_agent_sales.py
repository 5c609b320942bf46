"""The KRA Agent sandbox's endpoints, part 2: products, sales, credit notes, purchases, stock.

Rules the seed does not state, kept by the sandbox so the utility's order of work is tested:
- a sale line's `itemCd` must have been saved with /productSave for the POS's KRA PIN and
  branch (items belong to the taxpayer's branch, as in eTIMS, not to one device) (422);
- `trdInvcNo` is unique per POS among its sales and among its credit notes, `invcNo` per POS
  over both: a second document with a new requestID answers 409 {"status": false, "message":
  "Duplicate trdInvcNo …"} (or "Duplicate invcNo …");
- a credit note (/saveTrnsSalesOsdc, rcptTyCd "R") must name a recorded sale of the POS in
  `orgInvcNo` (the seed's example sends 0: refused), may only credit that sale's items, and
  no more of each than the sale had less earlier credit notes (422);
- a POST repeating a requestID gets the first (successful) answer again, nothing recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import string
import time
from decimal import Decimal
from typing import Any

from aiohttp import web

from app.sandbox.kra_agent_api import AuthApi, Refused, fail, invalid
from app.sandbox.kra_agent_checks import (
    Errors,
    add,
    check_product,
    check_stock_io,
    check_stock_master,
    check_transaction,
    json_field,
    money,
    number,
    text,
)
from app.sandbox.kra_agent_views import (
    ITEM_CLASSES,
    SUPPLIER_INVOICES,
    checker_page,
    checker_url,
    compact,
    integer,
    product_view,
    sale_status,
    sale_view,
    stock_view,
)
from app.sandbox.rules import json_response


def request_keys(path: str, form: dict[str, str]) -> list[tuple[str, str]]:
    """What a POST names, for `received_count(kind, key)`: ("sale", trdInvcNo),
    ("credit_note", trdInvcNo), ("product", itemCd), ("purchase", invcNo),
    ("stock_io", sarNo), ("stock_master", itemCd). Unreadable documents name nothing."""
    endpoint = path.rsplit("/api/v1", 1)[-1]
    field, kind, key = {
        "/sale": ("sales", "sale", "trdInvcNo"),
        "/saveTrnsSalesOsdc": ("sales", "credit_note", "trdInvcNo"),
        "/insertTrnsPurchase": ("data", "purchase", "invcNo"),
        "/insertStockIO": ("data", "stock_io", "sarNo"),
        "/saveStockMaster": ("data", "stock_master", "itemCd"),
        "/productSave": ("products", "product", "itemCd"),
    }.get(endpoint, (None, None, None))
    if field is None or not form.get(field):
        return []
    try:
        doc = json.loads(form[field])
    except (ValueError, RecursionError):
        return []
    docs = doc.get("products") if kind == "product" and isinstance(doc, dict) else [doc]
    keys = []
    for each in docs if isinstance(docs, list) else []:
        value = text(each.get(key)) if isinstance(each, dict) else None
        if value is not None:
            keys.append((str(kind), value))
    return keys


class KraAgentApi(AuthApi):
    """Every endpoint of the seed (part 1 in AuthApi)."""

    # -- products ---------------------------------------------------------------------

    def _products_of(self, pos: dict[str, Any]) -> list[dict[str, Any]]:
        """Items are registered per taxpayer branch (KRA PIN + branch), not per device."""
        branch = (pos["kra_pin"], pos["branch_id"])
        devices = {p["id"] for p in self.store["pos"].values()
                   if (p["kra_pin"], p["branch_id"]) == branch}
        return [p for p in self.store["products"].values() if p["pos_id"] in devices]

    def _product(self, pos: dict[str, Any], item_code: str) -> dict[str, Any] | None:
        for product in self._products_of(pos):
            if product["fields"].get("itemCd") == item_code:
                return product
        return None

    async def product_save(self, request: web.Request) -> web.Response:
        pos = self.pos(request, token=False)
        scope = pos["client_id"]
        form = self.form(request)
        if (again := self.replayed(request, scope)) is not None:
            return again
        errors: Errors = {}
        doc = json_field(form, "products", errors)
        products = doc.get("products") if isinstance(doc, dict) else None
        if doc is not None and (not isinstance(products, list) or not products):
            add(errors, "products", 'The products field must be {"products": [...]}, not empty.')
        for index, product in enumerate(products or []):
            check_product(product, f"products.{index}.", errors)
        if errors:
            raise invalid(errors)
        now, answers = time.time(), []
        for fields in products or []:
            code = text(fields["itemCd"])
            product = self._product(pos, str(code))
            if product is None:
                product = {"id": self.store.next_id("product"), "pos_id": pos["id"],
                           "created": now}
                self.store["products"][str(product["id"])] = product
            product.update(fields=fields, updated=now, request_id=form.get("requestID"))
            answers.append({"status": True, "item_cd": code,
                            "kraRes": {"statusFromKRA": "completed", "itemCode": code}})
        return self.remember(request, scope, {"status": True, "data": answers})

    async def product_get(self, request: web.Request) -> web.Response:
        pos = self.pos(request, token=True)
        products = [product_view(p, pos) for p in self._products_of(pos)]
        return json_response({"status": True, "data": {"products": products}})

    async def product_show(self, request: web.Request) -> web.Response:
        """?product_id= or ?itemCode= (the seed sends the other one as the text "null")."""
        pos = self.pos(request, token=True)
        wanted = {k: v.strip() for k, v in request.query.items() if v.strip() not in ("", "null")}
        product = None
        if "product_id" in wanted:
            product = self.store["products"].get(wanted["product_id"])
        elif "itemCode" in wanted:
            product = self._product(pos, wanted["itemCode"])
        else:
            raise invalid({"product_id": ["The product_id or itemCode parameter is required."]})
        if product is None or product not in self._products_of(pos):
            raise Refused(fail(404, "Product not found."))
        return json_response({"status": True, "data": {"product": product_view(product, pos)}})

    async def item_classes(self, request: web.Request) -> web.Response:
        self.pos(request, token=True)
        data = {"resultCd": "000", "resultMsg": "Successful", "resultDt": compact(time.time()),
                "data": {"itemClsList": ITEM_CLASSES}}
        return json_response({"status": True, "data": data})

    # -- sales and credit notes -------------------------------------------------------

    def _sales_of(self, pos: dict[str, Any]) -> list[dict[str, Any]]:
        return [s for s in self.store["sales"].values() if s["pos_id"] == pos["id"]]

    async def sale(self, request: web.Request) -> web.Response:
        return await self._transaction(request, credit=False)

    async def credit_note(self, request: web.Request) -> web.Response:
        return await self._transaction(request, credit=True)

    async def _transaction(self, request: web.Request, *, credit: bool) -> web.Response:
        pos = self.pos(request, token=credit)
        scope = pos["client_id"]
        form = self.form(request)
        if (again := self.replayed(request, scope)) is not None:
            return again
        errors: Errors = {}
        doc = json_field(form, "sales", errors)
        if doc is not None:
            check_transaction(doc, "sales.", errors, date_field="salesDt",
                              receipt_types=("R",) if credit else ("S",))
        if errors:
            raise invalid(errors)
        trade_no = text(doc.get("trdInvcNo"))
        if trade_no is None:
            raise invalid({"sales.trdInvcNo": ["The trdInvcNo field is required."]})
        original = self._check_credit(pos, doc) if credit else None
        if not credit:
            for index, line in enumerate(doc["itemList"]):
                if self._product(pos, str(text(line["itemCd"]))) is None:
                    add(errors, f"sales.itemList.{index}.itemCd",
                        f"The itemCd {text(line['itemCd'])} is not registered (use /productSave).")
            if errors:
                raise invalid(errors)
        for sale in self._sales_of(pos):
            for field in ("trdInvcNo", "invcNo"):
                if field == "trdInvcNo" and sale["doc"].get("rcptTyCd") != doc.get("rcptTyCd"):
                    continue  # sales and credit notes may have their own number series
                if text(sale["doc"].get(field)) == text(doc.get(field)):
                    message = (f"Duplicate {field} {text(doc.get(field))}: already recorded "
                               f"as sale_id {sale['sale_id']}.")
                    raise Refused(fail(409, message))
        sale = self._record_sale(pos, doc, form.get("requestID"), original)
        kra_res = {"statusFromKRA": sale_status(sale), "invoiceNo": integer(doc.get("invcNo")),
                   "invoice_checker_url": checker_url(self.sandbox.origin, sale)}
        return self.remember(request, scope, {"status": True, "sale_id": sale["sale_id"],
                                              "kra_res": kra_res})

    def _check_credit(self, pos: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
        """The original sale of a credit note; its items and quantities are not exceeded."""
        wanted = text(doc.get("orgInvcNo"))
        original = next((s for s in self._sales_of(pos) if s["kind"] == "sale"
                         and text(s["doc"].get("invcNo")) == wanted), None)
        if original is None:
            raise invalid({"sales.orgInvcNo": [
                f"The orgInvcNo {wanted} is not the invcNo of a sale recorded for this POS."]})
        left: dict[str, Decimal] = {}
        for line in original["doc"]["itemList"]:
            code = str(text(line["itemCd"]))
            left[code] = left.get(code, Decimal(0)) + (number(line["qty"]) or Decimal(0))
        for earlier in self._sales_of(pos):
            if earlier.get("original_sale_id") == original["sale_id"]:
                for line in earlier["doc"]["itemList"]:
                    code = str(text(line["itemCd"]))
                    left[code] = left.get(code, Decimal(0)) - (number(line["qty"]) or Decimal(0))
        errors: Errors = {}
        for index, line in enumerate(doc["itemList"]):
            code = str(text(line["itemCd"]))
            qty = number(line["qty"]) or Decimal(0)
            if code not in left:
                add(errors, f"sales.itemList.{index}.itemCd",
                    f"The itemCd {code} is not in the original sale {wanted}.")
            elif qty > left[code]:
                add(errors, f"sales.itemList.{index}.qty",
                    f"The qty {qty} of {code} exceeds what is left to credit ({max(left[code], 0)}).")
            else:
                left[code] -= qty
        if errors:
            raise invalid(errors)
        return original

    def _record_sale(self, pos: dict[str, Any], doc: dict[str, Any], request_id: str | None,
                     original: dict[str, Any] | None) -> dict[str, Any]:
        now = time.time()
        sale_id = self.store.next_id("sale")
        alphabet = string.ascii_uppercase + string.digits
        sale: dict[str, Any] = {
            "sale_id": sale_id, "pos_id": pos["id"], "request_id": request_id, "doc": doc,
            "kind": "credit_note" if original else "sale", "received": now,
            "original_sale_id": original["sale_id"] if original else None,
            "item_ids": [self.store.next_id("sale_item") for _ in doc["itemList"]],
            "checker": secrets.token_urlsafe(48), "rcpt_no": len(self._sales_of(pos)) + 1,
            "intrl": "".join(secrets.choice(alphabet) for _ in range(26)),
            "sign": "".join(secrets.choice(alphabet) for _ in range(16)),
            "completed_at": now, "complete_after": None, "shows_needed": None, "shows": 0,
        }
        plan = self.sandbox.pending
        if plan["count"] > 0:
            plan["count"] -= 1
            sale["completed_at"] = None
            if plan["after_seconds"] is not None:
                sale["complete_after"] = now + plan["after_seconds"]
            if plan["after_shows"] is not None:
                sale["shows_needed"] = plan["after_shows"]
        self.store["sales"][str(sale_id)] = sale
        self.store["checker"][sale["checker"]] = sale_id
        return sale

    def _settle(self, sale: dict[str, Any]) -> None:
        """A pending sale completes after its seconds or on its Nth /saleShow."""
        if sale["completed_at"] is not None:
            return
        now = time.time()
        timed = sale["complete_after"] is not None and now >= sale["complete_after"]
        shown = sale["shows_needed"] is not None and sale["shows"] >= sale["shows_needed"]
        if timed or shown:
            sale["completed_at"] = now
            self.store.save()

    async def sale_get(self, request: web.Request) -> web.Response:
        pos = self.pos(request, token=True)
        bounds = []
        for name in ("from", "to"):
            value = request.query.get(name, "").strip()
            try:
                bounds.append(dt.date.fromisoformat(value).strftime("%Y%m%d") if value else None)
            except ValueError:
                raise invalid({name: [f"The {name} parameter must be a date as YYYY-MM-DD."]}) from None
        sales = []
        for sale in self._sales_of(pos):
            day = str(sale["doc"].get("salesDt"))
            if (bounds[0] is None or day >= bounds[0]) and (bounds[1] is None or day <= bounds[1]):
                self._settle(sale)
                sales.append(sale_view(sale, pos, self.sandbox.origin))
        return json_response({"status": True, "data": {"sales": sales}})

    async def sale_show(self, request: web.Request) -> web.Response:
        """?sale_id=; answers a list of one (as the seed shows)."""
        pos = self.pos(request, token=True)
        wanted = request.query.get("sale_id", "").strip()
        if not wanted.isdigit():
            raise invalid({"sale_id": ["The sale_id parameter must be an integer."]})
        sale = self.store["sales"].get(str(int(wanted)))
        if sale is None or sale["pos_id"] != pos["id"]:
            raise Refused(fail(404, "Sale not found."))
        sale["shows"] += 1
        self._settle(sale)
        self.store.save()
        view = sale_view(sale, pos, self.sandbox.origin)
        return json_response({"status": True, "data": {"sale": [view]}})

    async def summary(self, request: web.Request) -> web.Response:
        """submitted = sales, pending = those not completed at KRA, cancelled = credit notes,
        total = Σ sales' totAmt − Σ credit notes' totAmt (the seed does not define them)."""
        pos = self.pos(request, token=True)
        sales = self._sales_of(pos)
        for sale in sales:
            self._settle(sale)
        total = Decimal(0)
        for sale in sales:
            amount = number(sale["doc"].get("totAmt")) or Decimal(0)
            total += -amount if sale["kind"] == "credit_note" else amount
        shown = str(money(total))
        data = {
            "submitted_invoices": sum(s["kind"] == "sale" for s in sales),
            "total_invoices": shown,
            "pending_invoices": sum(s["completed_at"] is None for s in sales),
            "cancelled_invoices": sum(s["kind"] == "credit_note" for s in sales),
            "total_invoices_str": f"Kshs {Decimal(shown):,.2f}",
        }
        return json_response({"status": True, "data": data})

    async def invoice_checker(self, request: web.Request) -> web.Response:
        sale_id = self.store["checker"].get(request.match_info["token"])
        sale = self.store["sales"].get(str(sale_id)) if sale_id is not None else None
        if sale is None:
            return web.Response(status=404, text="<!DOCTYPE html><p>Invoice not found.</p>",
                                content_type="text/html")
        self._settle(sale)
        pos = self.store["pos"][str(sale["pos_id"])]
        return web.Response(text=checker_page(sale, pos), content_type="text/html")

    # -- purchases and stock ----------------------------------------------------------

    async def purchases_list(self, request: web.Request) -> web.Response:
        """What KRA holds for the POS as purchases: the seed's supplier invoice, when
        `lastReqDt` (YYYYMMDDhhmmss) is before it."""
        self.pos(request, token=True)
        (since,) = self.required(self.form(request), "lastReqDt")
        if len(since) != 14 or not since.isdigit():
            raise invalid({"lastReqDt": ["The lastReqDt must be a date as YYYYMMDDhhmmss."]})
        data = [p for p in SUPPLIER_INVOICES
                if p["cfmDt"].replace("-", "").replace(":", "").replace(" ", "") > since]
        return json_response({"status": True, "message": "Data synchronized from KRA.",
                              "data": data})

    async def purchase(self, request: web.Request) -> web.Response:
        pos = self.pos(request, token=False)
        return self._record_data(request, pos, "purchases", "purchase", "purchase_id",
                                 "completed")

    async def stock_io(self, request: web.Request) -> web.Response:
        pos = self.pos(request, token=False)
        return self._record_data(request, pos, "stock_io", "stock", "stock_id", "not_completed")

    async def stock_master(self, request: web.Request) -> web.Response:
        pos = self.pos(request, token=False)
        return self._record_data(request, pos, "stock_master", "stock_master", "id",
                                 "not_completed")

    def _record_data(self, request: web.Request, pos: dict[str, Any], table: str, id_kind: str,
                     id_name: str, status: str) -> web.Response:
        scope = pos["client_id"]
        form = self.form(request)
        if (again := self.replayed(request, scope)) is not None:
            return again
        errors: Errors = {}
        doc = json_field(form, "data", errors)
        if doc is not None:
            if table == "purchases":
                check_transaction(doc, "data.", errors, date_field="pchsDt", receipt_types=("P",))
            elif table == "stock_io":
                check_stock_io(doc, errors)
            else:
                check_stock_master(doc, errors)
        if errors:
            raise invalid(errors)
        record_id = self.store.next_id(id_kind)
        record: dict[str, Any] = {"id": record_id, "pos_id": pos["id"], "doc": doc,
                                  "request_id": form.get("requestID"), "received": time.time()}
        if table == "stock_io":
            record["item_ids"] = [self.store.next_id("stock_item") for _ in doc["itemList"]]
        self.store[table][str(record_id)] = record
        payload = {"status": True, id_name: record_id, "kra_res": {"statusFromKRA": status}}
        return self.remember(request, scope, payload)

    async def stock_get(self, request: web.Request) -> web.Response:
        pos = self.pos(request, token=True)
        stock = [stock_view(s) for s in self.store["stock_io"].values() if s["pos_id"] == pos["id"]]
        return json_response({"status": True, "data": {"list": stock}})
