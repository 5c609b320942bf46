"""Kenya intake (docs/KENYA.md): sales, credit notes, items and stock movements stored in the one
outbox with their dependencies, on a real SQLite file; and the POS routes on a real server
(aiohttp on 127.0.0.1, the real writer process) in Kenya mode and in KPRA mode."""

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import peewee
import pytest
from aiohttp import web

from app.domain import kenya
from app.domain.kenya_tax import tax_config
from app.domain.states import State
from app.server.app import make_app
from app.server.deps import ServerDeps
from app.server.invoice_api import DEPS
from app.store import documents, reports
from app.store import repository as repo
from app.store.database import open_database
from app.store.gateway import Store
from app.store.listing import InvoiceFilter, list_invoices
from app.store.records import AttemptRecord, IntakeOutcome
from app.sync.forwarder import ForwarderStatus

PIN, POS, KEY = "P051234567A", "TILL-1", "integration-token-1"
NOW = datetime(2026, 4, 12, 10, 0, 0)
CONFIG = tax_config("kra-agent", rates={"B": 18}, rounding="1")  # the seed's sale: B 18 %
OK = AttemptRecord(0.0, 5, 200, "accepted", "ok")


def sale(number: str = "INV-1", items: list[dict] | None = None, **changes: object) -> dict:
    body: dict[str, object] = {
        "ntn": PIN, "pos_id": POS, "key": KEY, "invoice_no": number,
        "date_time": "2026-04-12 09:30:00",
        "items": items if items is not None else [
            {"item_code": "KE1NTXU0000013", "item_name": "test item 1", "quantity": 2,
             "unit_price": 3500, "tax_type": "B", "item_class_code": "5059690800"},
            {"item_code": "KE1NTXU0000014", "item_name": "test item 2", "quantity": 1,
             "unit_price": 3500, "tax_type": "B", "item_class_code": "5059690800"}]}
    body.update(changes)
    return body


def credit(number: str = "CN-1", original: str = "INV-1", items: list[dict] | None = None,
           **changes: object) -> dict:
    body: dict[str, object] = {"ntn": PIN, "pos_id": POS, "key": KEY, "credit_note_no": number,
                               "original_invoice_no": original, "reason": "Goods returned",
                               "date_time": "2026-04-12 11:00:00"}
    if items is not None:
        body["items"] = items
    body.update(changes)
    return body


def item(code: str | None = "KE2NTXU0000001", name: str = "Sinda Engine Oil 20W50",
         **changes: object) -> dict:
    body: dict[str, object] = {"ntn": PIN, "pos_id": POS, "key": KEY, "item_name": name,
                               "item_class_code": "9901300101", "tax_type": "B",
                               "unit_price": 2900}
    if code is not None:
        body["item_code"] = code
    body.update(changes)
    return body


def stock(reference: str = "GRN-7", code: str = "KE1NTXU0000013", adjustment: str = "IN",
          quantity: object = 100, **changes: object) -> dict:
    body: dict[str, object] = {"ntn": PIN, "pos_id": POS, "key": KEY, "reference": reference,
                               "item_code": code, "adjustment_type": adjustment,
                               "quantity": quantity, "date": "2026-04-12"}
    body.update(changes)
    return body


PARSE = {
    "invoice": lambda f: kenya.parse_invoice(f, now=NOW, config=CONFIG),
    "credit_note": lambda f: kenya.parse_credit_note(f, now=NOW),
    "item": lambda f: kenya.parse_item(f, now=NOW, config=CONFIG),
    "stock": lambda f: kenya.parse_stock(f, now=NOW),
}


@pytest.fixture
def db(tmp_path: Path) -> peewee.SqliteDatabase:
    database = open_database(tmp_path / "rims.sqlite3")
    database.connect()
    yield database
    database.close()


def store(db: peewee.SqliteDatabase, kind: str, *bodies: dict):
    docs = [PARSE[kind](body).document for body in bodies]
    with db.atomic():
        return documents.store_documents(db, docs, CONFIG)


def one(db: peewee.SqliteDatabase, kind: str, body: dict):
    [result] = store(db, kind, body)
    return result


def dependencies(db: peewee.SqliteDatabase, number: str) -> list[str]:
    record = repo.get_invoice(db, POS, number)
    return [r.invoice_no for r in repo.dependencies_of(db, record.id)]


def claim(db: peewee.SqliteDatabase) -> dict[str, object]:
    with db.atomic():
        return {r.invoice_no: r for r in repo.claim_due(db, time.time() + 1, 100)}


def sync(db: peewee.SqliteDatabase, number: str, transaction_id: str, ref: str | None = None):
    record = repo.get_invoice(db, POS, number)
    with db.atomic():
        repo.mark_synced(db, record.id, transaction_id, OK, upstream_ref=ref,
                         receipt_url=f"https://etims.example/receipt/{transaction_id}")


# ------------------------------------------------------------------------------ sales and items

def test_a_sale_with_new_items_registers_them_first_and_depends_on_them(db):
    result = one(db, "invoice", sale())
    assert result.outcome is IntakeOutcome.CREATED and result.state is State.QUEUED
    record = result.record
    assert (record.kind, record.invoice_no) == ("invoice", "INV-1")
    # the seed's example: 10500 including 18 % → tax 1602 (per band), net 8898
    assert (record.amount, record.tax_amount, record.total_amount) == (
        Decimal("8898"), Decimal("1602"), Decimal("10500"))
    assert record.detail["bands"]["B"]["tax"] == "1602"
    rows = db.execute_sql("SELECT id, invoice_no, kind FROM invoice ORDER BY id").fetchall()
    assert [(n, k) for _, n, k in rows] == [("item:KE1NTXU0000013", "item"),
                                           ("item:KE1NTXU0000014", "item"), ("INV-1", "invoice")]
    assert dependencies(db, "INV-1") == ["item:KE1NTXU0000013", "item:KE1NTXU0000014"]
    registered = repo.get_invoice(db, POS, "item:KE1NTXU0000013")
    assert registered.detail["item_name"] == "test item 1"
    assert registered.detail["item_class_code"] == "5059690800"
    assert (registered.amount, registered.total_amount) == (0, 0)
    assert repo.items_of(db, POS) == [("KE1NTXU0000013", "test item 1", "0"),
                                      ("KE1NTXU0000014", "test item 2", "0")]


def test_a_known_item_is_reused_by_code_or_by_name(db):
    one(db, "invoice", sale("INV-1"))
    by_name = [{"item_name": "test item 1", "quantity": 1, "unit_price": 100, "tax_type": "B"}]
    result = one(db, "invoice", sale("INV-2", items=by_name))
    assert result.outcome is IntakeOutcome.CREATED
    assert result.record.detail["lines"][0]["item_code"] == "KE1NTXU0000013"
    again = one(db, "invoice", sale("INV-3", items=[{**by_name[0], "item_code":
                                                     "KE1NTXU0000014"}]))
    assert again.outcome is IntakeOutcome.CREATED
    assert db.execute_sql("SELECT COUNT(*) FROM invoice WHERE kind = 'item'").fetchone()[0] == 2
    assert dependencies(db, "INV-2") == ["item:KE1NTXU0000013"]
    assert dependencies(db, "INV-3") == ["item:KE1NTXU0000014"]


def test_an_item_named_only_gets_a_generated_kra_code_per_pos(db):
    lines = [{"item_name": "Maize flour 2kg", "quantity": 1, "unit_price": 250, "tax_type": "B",
              "pkg_unit": "BG", "qty_unit": "KG", "item_type": "2"},
             {"item_name": "Sugar 1kg", "quantity": 2, "unit_price": 180, "tax_type": "B"},
             {"item_name": "Maize flour 2kg", "quantity": 3, "unit_price": 250, "tax_type": "B",
              "pkg_unit": "BG", "qty_unit": "KG", "item_type": "2"}]
    record = one(db, "invoice", sale("INV-9", items=lines)).record
    codes = [line["item_code"] for line in record.detail["lines"]]
    assert codes == ["KE2BGKG0000001", "KE1NTXU0000002", "KE2BGKG0000001"]
    assert dependencies(db, "INV-9") == ["item:KE2BGKG0000001", "item:KE1NTXU0000002"]
    # registered on its own, by name only: a new code from the same sequence
    created = one(db, "item", item(code=None, name="Cooking oil 1l"))
    assert created.record.invoice_no == "item:KE1NTXU0000003"
    assert created.record.detail["item_code"] == "KE1NTXU0000003"
    # and posted again by name only: the same item, answered like the first time
    assert one(db, "item", item(code=None, name="Cooking oil 1l")).outcome is \
        IntakeOutcome.REPLAYED


def test_items_registered_before_a_sale_are_used_and_replays_and_conflicts(db):
    assert one(db, "item", item()).outcome is IntakeOutcome.CREATED
    assert one(db, "item", item()).outcome is IntakeOutcome.REPLAYED
    assert one(db, "item", item(name="Another oil")).outcome is IntakeOutcome.CONFLICT
    lines = [{"item_code": "KE2NTXU0000001", "quantity": 1, "unit_price": 2900, "tax_type": "B"}]
    result = one(db, "invoice", sale("INV-5", items=lines))
    assert dependencies(db, "INV-5") == ["item:KE2NTXU0000001"]
    assert result.record.detail["lines"][0]["item_code"] == "KE2NTXU0000001"
    # an item the shop sold before registering it: the registration is answered as done
    one(db, "invoice", sale("INV-6"))
    assert one(db, "item", item("KE1NTXU0000013", "test item 1")).outcome is \
        IntakeOutcome.REPLAYED


def test_sale_replays_answer_like_the_first_time_and_conflicts_change_nothing(db):
    first, copy = store(db, "invoice", sale(), sale())  # two copies in one batch
    assert (first.outcome, copy.outcome) == (IntakeOutcome.CREATED, IntakeOutcome.REPLAYED)
    assert copy.record.id == first.record.id
    reordered = sale(items=list(reversed(sale()["items"])))
    assert one(db, "invoice", sale(date_time="2026-04-12 09:30:00")).outcome is \
        IntakeOutcome.REPLAYED
    conflict = one(db, "invoice", reordered | {"date_time": "2026-04-12 09:31:00"})
    assert conflict.outcome is IntakeOutcome.CONFLICT and conflict.record.id == first.record.id
    assert db.execute_sql("SELECT COUNT(*) FROM invoice").fetchone()[0] == 3


# ------------------------------------------------------------------------------ credit notes

def test_a_credit_note_needs_its_original_in_this_utility(db):
    refused = one(db, "credit_note", credit(original="INV-404"))
    assert refused.outcome is IntakeOutcome.REFUSED
    assert "INV-404" in refused.errors["original_invoice_no"]
    assert db.execute_sql("SELECT COUNT(*) FROM invoice").fetchone()[0] == 0


def test_a_credit_note_waits_for_its_original_to_sync_then_carries_its_refs(db):
    one(db, "invoice", sale())
    note = one(db, "credit_note", credit())
    assert note.outcome is IntakeOutcome.CREATED
    record = note.record
    assert (record.kind, record.invoice_no) == ("credit_note", "cn:CN-1")
    assert (record.amount, record.tax_amount, record.total_amount, record.tax_rate) == (
        Decimal("-8898"), Decimal("-1602"), Decimal("-10500"), Decimal("18.00"))
    assert record.detail["full"] is True and record.detail["original_invoice_no"] == "INV-1"
    assert dependencies(db, "cn:CN-1") == ["INV-1"]

    claimed = claim(db)  # the items first: the sale and the credit note wait
    assert set(claimed) == {"item:KE1NTXU0000013", "item:KE1NTXU0000014"}
    assert all(r.refs == {} for r in claimed.values())
    assert repo.next_due_at(db) is None  # nothing else can be sent yet
    sync(db, "item:KE1NTXU0000013", "T-13", "itm_13")
    sync(db, "item:KE1NTXU0000014", "T-14", "itm_14")
    assert repo.next_due_at(db) is not None
    claimed = claim(db)
    assert set(claimed) == {"INV-1"}
    assert claimed["INV-1"].refs == {"item:KE1NTXU0000013": ("itm_13", "T-13"),
                                     "item:KE1NTXU0000014": ("itm_14", "T-14")}
    assert claim(db) == {}  # the credit note still waits: its original is sending
    sync(db, "INV-1", "T-1", "inv_1")
    claimed = claim(db)
    assert set(claimed) == {"cn:CN-1"}
    assert claimed["cn:CN-1"].refs == {"INV-1": ("inv_1", "T-1")}
    assert claimed["cn:CN-1"].detail["original_id"] == repo.get_invoice(db, POS, "INV-1").id
    synced = repo.get_invoice(db, POS, "INV-1")
    assert synced.receipt_url == "https://etims.example/receipt/T-1"
    assert synced.upstream_ref == "inv_1"


def test_partial_credit_notes_credit_at_most_what_is_left(db):
    one(db, "invoice", sale())
    first = one(db, "credit_note", credit("CN-1", items=[{"item_code": "KE1NTXU0000013",
                                                         "quantity": 1}]))
    assert first.outcome is IntakeOutcome.CREATED
    assert [(line["item_code"], line["quantity"]) for line in first.record.detail["lines"]] == [
        ("KE1NTXU0000013", "1")]
    assert first.record.total_amount == Decimal("-3500")
    too_many = one(db, "credit_note", credit("CN-2", items=[{"item_code": "KE1NTXU0000013",
                                                             "quantity": 2}]))
    assert too_many.outcome is IntakeOutcome.REFUSED
    assert "items[0].quantity" in too_many.errors
    unknown = one(db, "credit_note", credit("CN-3", items=[{"item_code": "KE9", "quantity": 1}]))
    assert unknown.outcome is IntakeOutcome.REFUSED and "items[0].item_code" in unknown.errors
    rest = one(db, "credit_note", credit("CN-4"))  # the rest of it
    assert [(line["item_code"], line["quantity"]) for line in rest.record.detail["lines"]] == [
        ("KE1NTXU0000013", "1"), ("KE1NTXU0000014", "1")]
    assert rest.record.total_amount == Decimal("-7000")
    nothing_left = one(db, "credit_note", credit("CN-5"))
    assert nothing_left.outcome is IntakeOutcome.REFUSED
    assert "original_invoice_no" in nothing_left.errors
    assert db.execute_sql("SELECT COUNT(*) FROM invoice WHERE kind = 'credit_note'"
                          ).fetchone()[0] == 2
    # a replay of the first is still answered like the first time
    again = one(db, "credit_note", credit("CN-1", items=[{"item_code": "KE1NTXU0000013",
                                                         "quantity": 1}]))
    assert again.outcome is IntakeOutcome.REPLAYED and again.record.id == first.record.id
    other = one(db, "credit_note", credit("CN-1", reason="Another reason"))
    assert other.outcome is IntakeOutcome.CONFLICT
    # money: the sale less what was credited; counts: every row
    totals = reports.totals(db, InvoiceFilter())
    assert (totals.count, totals.total) == (3, Decimal(0))


def test_a_credit_note_in_the_same_batch_as_its_original(db):
    docs = [PARSE["invoice"](sale()).document, PARSE["credit_note"](credit()).document]
    with db.atomic():
        results = documents.store_documents(db, docs, CONFIG)
    assert [r.outcome for r in results] == [IntakeOutcome.CREATED, IntakeOutcome.CREATED]


# ------------------------------------------------------------------------------ stock

def test_stock_movements_keep_the_remaining_quantity(db):
    unknown = one(db, "stock", stock())
    assert unknown.outcome is IntakeOutcome.REFUSED and "item_code" in unknown.errors
    one(db, "invoice", sale())
    received = one(db, "stock", stock("GRN-7", quantity=100))
    assert received.outcome is IntakeOutcome.CREATED
    detail = received.record.detail
    assert (detail["remaining_quantity"], detail["item_name"], detail["tax_rate"]) == (
        "100", "test item 1", "18")
    assert dependencies(db, "stock:GRN-7") == ["item:KE1NTXU0000013"]
    damaged = one(db, "stock", stock("DMG-1", adjustment="DAMAGE", quantity="2.5"))
    assert damaged.record.detail["remaining_quantity"] == "97.5"
    returned = one(db, "stock", stock("RET-1", adjustment="RETURN", quantity=1))
    assert returned.record.detail["remaining_quantity"] == "98.5"
    sold = one(db, "stock", stock("OUT-1", adjustment="OUT", quantity=10))
    assert sold.record.detail["remaining_quantity"] == "88.5"
    # a replay does not move the stock again; another movement under the same reference is 409
    assert one(db, "stock", stock("OUT-1", adjustment="OUT", quantity=10)).outcome is \
        IntakeOutcome.REPLAYED
    assert one(db, "stock", stock("OUT-1", adjustment="OUT", quantity=11)).outcome is \
        IntakeOutcome.CONFLICT
    assert ("KE1NTXU0000013", "test item 1", "88.5") in repo.items_of(db, POS)
    assert reports.totals(db, InvoiceFilter()).count == 1  # the sale only
    assert repo.summary(db).counts["queued"] == 7  # 2 items, the sale, 4 movements


# ------------------------------------------------------------------------------ forwarding

def test_a_rejected_row_tells_every_row_waiting_for_it(db):
    one(db, "invoice", sale())
    one(db, "credit_note", credit())
    claimed = claim(db)
    refused = AttemptRecord(0.0, 5, 400, "rejected", "itemClsCd 5059690800 is not valid")
    with db.atomic():
        repo.mark_rejected(db, claimed["item:KE1NTXU0000013"].id, refused)
    waiting = repo.get_invoice(db, POS, "INV-1")
    assert waiting.state is State.QUEUED
    assert waiting.last_error == ("Waiting for item:KE1NTXU0000013, which the authority "
                                  "refused: itemClsCd 5059690800 is not valid")
    assert repo.get_invoice(db, POS, "cn:CN-1").last_error is None  # not directly
    # fixed and sent again: the sale no longer says it waits
    with db.atomic():
        repo.retry_invoice(db, claimed["item:KE1NTXU0000013"].id, "from a test")
    claim(db)
    sync(db, "item:KE1NTXU0000013", "T-13")
    assert repo.get_invoice(db, POS, "INV-1").last_error is None


def test_submitted_rows_go_back_to_the_queue_with_their_upstream_ref(db):
    one(db, "item", item())
    [claimed] = claim(db).values()
    later = time.time() + 60
    with db.atomic():
        repo.mark_submitted(db, claimed.id, "itm_42", later,
                            AttemptRecord(0.0, 5, 202, "submitted", "ProTax: QUEUED"))
    record = repo.get_invoice(db, POS, "item:KE2NTXU0000001")
    assert (record.state, record.upstream_ref, record.last_error, record.ambiguous,
            record.next_attempt_at) == (State.QUEUED, "itm_42", "ProTax: QUEUED", False, later)
    assert claim(db) == {}  # not due yet
    with db.atomic():
        assert [r.upstream_ref for r in repo.claim_due(db, later + 1, 10)] == ["itm_42"]
        repo.mark_synced(db, claimed.id, "T-42", OK)  # the ref is kept
    assert repo.get_invoice(db, POS, "item:KE2NTXU0000001").upstream_ref == "itm_42"


def test_the_list_shows_kind_and_detail(db):
    one(db, "invoice", sale())
    rows, _ = list_invoices(db, InvoiceFilter(), 10)
    assert {(r.invoice_no, r.kind) for r in rows} == {
        ("INV-1", "invoice"), ("item:KE1NTXU0000013", "item"), ("item:KE1NTXU0000014", "item")}
    assert all(r.detail is not None for r in rows)


# ------------------------------------------------------------------------------ the routes

class Auth:
    def __init__(self, table: dict[str, tuple[str, str | None]]):
        self._table = table

    async def reload(self) -> bool:
        return False

    def table(self) -> dict[str, tuple[str, str | None]]:
        return self._table


class Server:
    """The real server app on 127.0.0.1 over a real store (writer process), in a mode."""

    def __init__(self, data_dir: Path, upstream: str):
        self.data_dir, self.upstream = data_dir, upstream

    async def start(self) -> "Server":
        loop = asyncio.get_running_loop()
        self.store = Store(self.data_dir / "rims.sqlite3", loop)
        await self.store.start()
        credentials = {POS: (PIN, KEY)}
        self.store.set_writer_context(
            credentials=credentials, upstream_name="KRA eTIMS" if self.upstream != "kpra"
            else "KPRA", upstream=self.upstream,
            tax=None if self.upstream == "kpra"  # (as the service: built once, as it is used)
            else tax_config(self.upstream, rates={"B": 18}, rounding="1"))
        deps = ServerDeps(store=self.store, auth=Auth(credentials),
                          forwarder_status=lambda: ForwarderStatus(False, None, None, 0.0, 0, 0),
                          invoice_saved=lambda: None,
                          upstream_name="KRA eTIMS", upstream_url="https://example.invalid",
                          version="test")
        self.runner = web.AppRunner(make_app(deps))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.http = aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}")
        return self

    async def stop(self) -> None:
        await self.http.close()
        await self.runner.cleanup()
        await self.store.close()

    async def post(self, path: str, body: dict, *, form: bool = False
                   ) -> tuple[int, dict, dict]:
        kwargs = ({"data": {k: str(v) for k, v in body.items()}} if form else {"json": body})
        async with self.http.post(path, **kwargs) as response:
            return response.status, await response.json(), dict(response.headers)

    async def get(self, path: str) -> tuple[int, dict]:
        async with self.http.get(path) as response:
            return response.status, await response.json()


@pytest.fixture
async def kenya_server(tmp_path: Path) -> AsyncIterator[Server]:
    server = await Server(tmp_path / "data", "kra-agent").start()
    yield server
    await server.stop()


async def test_kenya_routes_store_answer_replay_and_conflict(kenya_server):
    status, answer, headers = await kenya_server.post("/api/invoice", sale())
    assert status == 201, answer
    data = answer["data"]
    assert (data["kind"], data["number"], data["state"], data["transaction_id"],
            data["receipt_url"]) == ("invoice", "INV-1", "queued", None, None)
    assert (data["total_amount"], data["tax_amount"], data["amount"]) == ("10500", "1602", "8898")
    assert data["bands"]["B"] == {"rate": "18", "taxable": "10500", "tax": "1602"}
    assert data["totals"]["gross"] == "10500"
    assert "Idempotent-Replayed" not in headers
    status, again, headers = await kenya_server.post("/api/invoice", sale())
    assert status == 201 and headers.get("Idempotent-Replayed") == "true"
    assert again["data"] == data
    status, conflict, _ = await kenya_server.post("/api/invoice", sale(date_time="2026-04-12 "
                                                                                 "09:31:00"))
    assert status == 409 and "invoice_no" in conflict["errors"], conflict

    status, answer, _ = await kenya_server.post("/api/credit-note", credit())
    assert status == 201, answer
    assert (answer["data"]["kind"], answer["data"]["number"], answer["data"]["total_amount"]) == (
        "credit_note", "CN-1", "-10500")
    status, _, headers = await kenya_server.post("/api/credit-note", credit())
    assert status == 201 and headers.get("Idempotent-Replayed") == "true"
    status, conflict, _ = await kenya_server.post("/api/credit-note", credit(reason="Other"))
    assert status == 409 and "credit_note_no" in conflict["errors"]
    status, refused, _ = await kenya_server.post("/api/credit-note",
                                                 credit("CN-2", original="INV-404"))
    assert status == 422 and "original_invoice_no" in refused["errors"], refused
    assert refused["message"].startswith("Credit note not accepted: invoice INV-404")

    status, answer, _ = await kenya_server.post("/api/item", item(), form=True)
    assert status == 201, answer
    assert (answer["data"]["kind"], answer["data"]["item_code"]) == ("item", "KE2NTXU0000001")
    status, conflict, _ = await kenya_server.post("/api/item", item(name="Else"))
    assert status == 409 and "item_code" in conflict["errors"]

    status, answer, _ = await kenya_server.post("/api/stock", stock(quantity=12))
    assert status == 201, answer
    assert answer["data"]["remaining_quantity"] == "12"
    status, _, headers = await kenya_server.post("/api/stock", stock(quantity=12))
    assert status == 201 and headers.get("Idempotent-Replayed") == "true"
    status, conflict, _ = await kenya_server.post("/api/stock", stock(quantity=13))
    assert status == 409 and "reference" in conflict["errors"]
    status, refused, _ = await kenya_server.post("/api/stock", stock("GRN-9", code="KE404"))
    assert status == 422 and "item_code" in refused["errors"]

    status, found = await kenya_server.get(f"/api/invoices/{POS}/cn:CN-1")
    assert status == 200, found
    assert (found["data"]["kind"], found["data"]["detail"]["original_invoice_no"],
            found["data"]["upstream_ref"]) == ("credit_note", "INV-1", None)
    assert found["data"]["attempts"] == []


async def test_kenya_routes_check_the_body_and_the_credentials(kenya_server):
    status, answer, _ = await kenya_server.post("/api/stock", stock(key="wrong"))
    assert status == 401, answer
    status, answer, _ = await kenya_server.post("/api/credit-note", {"ntn": PIN})
    assert status == 400 and "credit_note_no" in answer["errors"], answer
    assert answer["message"].startswith("Credit note not accepted: ")
    async with kenya_server.http.post("/api/item", data=b"x", headers={
            "Content-Type": "text/plain"}) as response:
        assert response.status == 415
    async with kenya_server.http.post("/api/item", data=b"{", headers={
            "Content-Type": "application/json"}) as response:
        assert response.status == 400 and "body" in (await response.json())["errors"]


async def test_a_usd_sale_and_a_kes_sale_sum_in_kes_in_the_reports(kenya_server):
    """A sale in another currency is stored in KES (its totals × exchange_rate, to cents), so
    the dashboard's sums add shillings to shillings; the till's answer keeps the sale's own
    figures in its detail, and a credit note of it is in KES at the sale's rate."""
    kenya_server.runner.app[DEPS].upstream = "kra-agent"  # the dashboard in Kenya mode
    status, kes, _ = await kenya_server.post("/api/invoice", sale("INV-KES"))
    assert status == 201, kes  # 10500 KES, tax 1602
    usd_items = [{"item_code": "KE1NTXU0000013", "item_name": "test item 1", "quantity": 2,
                  "unit_price": 50, "tax_type": "B", "item_class_code": "5059690800"}]
    status, usd, _ = await kenya_server.post("/api/invoice", sale(
        "INV-USD", items=usd_items, currency="USD", exchange_rate="129.5"))
    assert status == 201, usd
    # 100 USD, tax 100 × 18 / 118 = 15.25 → 15 (rounding 1): × 129.5 → 12950.00, 1942.50
    assert (usd["data"]["total_amount"], usd["data"]["tax_amount"], usd["data"]["amount"]) == \
        ("12950.00", "1942.50", "11007.50")
    assert usd["data"]["totals"] == {"taxable": "100", "tax": "15", "net": "85", "gross": "100"}
    status, found = await kenya_server.get(f"/api/invoices/{POS}/INV-USD")
    detail = found["data"]["detail"]  # what the connectors send: USD at 129.5
    assert (detail["currency"], detail["exchange_rate"], detail["totals"]["gross"]) == \
        ("USD", "129.5", "100")
    status, cn, _ = await kenya_server.post("/api/credit-note", credit(
        "CN-USD", original="INV-USD", items=[{"item_code": "KE1NTXU0000013", "quantity": 1}]))
    assert status == 201, cn  # 50 USD, tax 50 × 18 / 118 = 7.63 → 8: × 129.5
    assert (cn["data"]["total_amount"], cn["data"]["tax_amount"]) == ("-6475.00", "-1036.00")

    async with aiohttp.ClientSession(base_url=kenya_server.http._base_url,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post("/api/session", json={"pos_id": POS, "key": KEY}) as response:
            assert response.status == 200, await response.text()
        day = {"from": "2026-04-12", "to": "2026-04-12"}
        async with browser.get("/api/dashboard/reports/sales", params=day) as response:
            report = await response.json()
        assert response.status == 200, report
        assert report["data"]["totals"] == {"count": 3, "amount": "14466.50", "tax": "2508.50",
                                            "total": "16975.00"}  # 10500 + 12950 − 6475
        async with browser.get("/api/dashboard/reports/tax-bands", params=day) as response:
            bands = await response.json()
        assert response.status == 200, bands
        [band_b] = [b for b in bands["data"]["bands"] if b["band"] == "B"]
        assert (Decimal(band_b["taxable"]), Decimal(band_b["tax"])) == \
            (Decimal("16975.00"), Decimal("2508.50"))
        async with browser.get("/api/dashboard/invoices", params={"q": "INV-USD"}) as response:
            [row] = [r for r in (await response.json())["data"]["items"]
                     if r["invoice_no"] == "INV-USD"]
        assert (row["total_amount"], row["currency"]) == ("12950.00", "USD")  # Total (KES)
        async with browser.get(f"/api/dashboard/invoices/{row['id']}") as response:
            page = (await response.json())["data"]
        assert (page["total_amount"], page["currency"], page["exchange_rate"]) == \
            ("12950.00", "USD", "129.5")
        assert page["band_totals"]["gross"] == "100"  # the sale's own figures, as sent


async def test_in_kpra_mode_the_kenya_routes_answer_404_and_invoices_are_kpra(tmp_path: Path):
    server = await Server(tmp_path / "data", "kpra").start()
    try:
        for path, body in (("/api/credit-note", credit()), ("/api/item", item()),
                           ("/api/stock", stock())):
            status, answer, _ = await server.post(path, body)
            assert status == 404, answer
            assert "only in Kenya mode (upstream kra-agent or protax)" in answer["message"]
        status, answer, _ = await server.post("/api/invoice", {
            "ntn": PIN, "pos_id": POS, "key": KEY, "invoice_no": "19", "amount": 200,
            "tax_rate": 5, "tax_amount": 10, "total_amount": 210,
            "date_time": "2026-04-02 12:12:12"})
        assert status == 201, answer
        assert set(answer["data"]) == {"invoice_no", "pos_id", "date_time", "state",
                                       "transaction_id", "qr_url", "warnings"}
    finally:
        await server.stop()


def test_a_held_pos_keeps_its_new_documents_held_and_a_bug_spoils_only_its_document(db):
    with db.atomic():
        repo.upsert_pos(db, PIN, POS, "kra-agent")
        repo.hold_pos(db, POS, "401 from the KRA Agent")
    result = one(db, "invoice", sale())
    assert result.state is State.HELD
    assert {s for (s,) in db.execute_sql("SELECT state FROM invoice")} == {"held"}
    good = PARSE["item"](item()).document
    broken = dataclasses.replace(good, kind="bogus")
    with db.atomic():
        first, second = documents.store_documents(db, [broken, good], CONFIG)
    assert first.outcome is IntakeOutcome.FAILED and "bogus" in first.errors["problem"]
    assert second.outcome is IntakeOutcome.CREATED


# ------------------------------------------------------------------------------ end to end

@pytest.mark.parametrize("upstream", ["kra-agent", "protax"])
async def test_practice_mode_sends_items_sales_credit_notes_and_stock_in_order(tmp_path: Path,
                                                                               upstream: str):
    """A real Core in practice mode (the upstream's sandbox over HTTPS): what the till posts
    reaches the sandbox in dependency order, with the upstream's ids and receipt links."""
    from app.sandbox import protax as protax_sandbox
    from app.service import upstreams
    from app.service.core import Core
    from app.settings import load

    settings = dataclasses.replace(load(tmp_path / "data", port=0), upstream=upstream,
                                   practice=True)
    core = Core(settings)
    await core.start()
    pin, pos = upstreams.KENYA_PRACTICE_PIN, upstreams.KENYA_PRACTICE_POS_ID
    key = (upstreams.KENYA_PRACTICE_TILL_KEY if upstream == "kra-agent"
           else protax_sandbox.DEFAULT_KEY)
    who = {"ntn": pin, "pos_id": pos, "key": key}
    try:
        async with aiohttp.ClientSession(base_url=core.base_url) as http:
            async def post(path: str, body: dict) -> dict:
                async with http.post(path, json={**who, **body}) as response:
                    answer = await response.json()
                    assert response.status == 201, answer
                    return answer["data"]

            sold = await post("/api/invoice", {
                "invoice_no": "INV-1", "date_time": "2026-04-12 09:30:00",
                "items": [{"item_name": "Sugar 1kg", "quantity": 2, "unit_price": 180,
                           "tax_type": "B", "item_class_code": "5059690800"}]})
            [code] = sold["item_codes"]
            await post("/api/credit-note", {"credit_note_no": "CN-1",
                                            "original_invoice_no": "INV-1", "reason": "returned"})
            stocked = await post("/api/stock", {"reference": "GRN-1", "item_code": code,
                                                "adjustment_type": "IN", "quantity": 5})
            assert stocked["remaining_quantity"] == "5"
            numbers = (f"item:{code}", "INV-1", "cn:CN-1", "stock:GRN-1")

            async def all_synced() -> dict[str, dict] | None:
                found = {}
                for number in numbers:
                    async with http.get(f"/api/invoices/{pos}/{number}") as response:
                        found[number] = (await response.json())["data"]
                done = all(d["state"] == "synced" for d in found.values())
                return found if done else None

            found = None
            for _ in range(200):
                found = await all_synced()
                if found:
                    break
                await asyncio.sleep(0.05)
            assert found, "everything to sync"
            for number in ("INV-1", "cn:CN-1"):
                assert found[number]["receipt_url"] and found[number]["upstream_ref"]
            at = {n: found[n]["synced_at"] for n in numbers}  # (to the second)
            assert at[f"item:{code}"] <= at["INV-1"] <= at["cn:CN-1"]
            assert at[f"item:{code}"] <= at["stock:GRN-1"]
    finally:
        await core.stop()
