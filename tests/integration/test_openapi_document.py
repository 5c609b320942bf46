"""The OpenAPI document (app/server/openapi.py, served at GET /api/openapi.json) stays true:

- it is a valid OpenAPI 3.1 document, every schema in it a valid JSON Schema (2020-12);
- the aiohttp app's routes and the document's operations are the same (path and method);
- real requests of every kind (valid invoices as JSON and as forms, each kind of validation
  error, 401, 405, 409, 413, 415, 503, status, health, QR, home, the document itself; the
  dashboard's pages, session and every /api/dashboard/ operation, signed in and not) get a
  status the document lists for that operation, and a body its schema accepts.

tests/integration/test_openapi_fuzz.py then lets schemathesis generate requests from it."""

import base64
import copy
import inspect
import io
import os
import re
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31  # the OpenAPI 3.1 meta-schema

from app import __version__
from app.domain import validation
from app.server import openapi
from app.server.app import make_app
from app.server.deps import ServerDeps
from app.server.invoice_api import DEPS, MAX_BODY
from app.server.pages import ASSETS
from tests.conftest import wait_for
from tests.integration.conftest import KEY, POS_ID, Utility, configure_pos, invoice

DOC = openapi.build(__version__)
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def resolve(node: object, doc: dict[str, Any] = DOC) -> Any:
    """The node with every local $ref replaced by what it points at (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return resolve({**copy.deepcopy(target), **rest}, doc)
        return {key: resolve(value, doc) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, doc) for item in node]
    return node


def operations(doc: dict[str, Any] = DOC) -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method.upper()): op for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS}


def schemas_in(node: object, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every JSON Schema in the document: under components/schemas, parameters and contents."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                found.append((f"{where}/schema", value))
            elif key == "schemas" and where == "/components":
                found += [(f"{where}/schemas/{n}", s) for n, s in value.items()]
            else:
                found += schemas_in(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += schemas_in(item, f"{where}/{i}")
    return found


def test_the_document_is_valid_openapi_3_1_with_valid_schemas():
    errors = [f"{e.instance_path}: {e.message}" for e in
              jsonschema_rs.Draft202012Validator(OPENAPI_31).iter_errors(DOC)]
    assert not errors, errors
    schemas = schemas_in(DOC)
    assert len(schemas) > 20
    for where, schema in schemas:
        resolved = resolve(schema)
        jsonschema_rs.meta.validate({"$schema": "https://json-schema.org/draft/2020-12/schema",
                                     **resolved})
        jsonschema_rs.Draft202012Validator(resolved)  # compiles (patterns included)
        assert where


def test_every_warning_code_is_documented():
    source = inspect.getsource(validation)
    assert set(re.findall(r'Warning\(\s*"(\w+)"', source)) == set(openapi.WARNING_CODES)


def test_every_route_is_documented_and_every_documented_route_exists():
    app = make_app(ServerDeps(store=None, auth=None, forwarder_status=None,  # type: ignore
                              invoice_saved=None, upstream_name="", upstream_url="", version=""))
    routed = {(route.resource.canonical, route.method) for route in app.router.routes()
              if route.method != "HEAD"}  # aiohttp adds HEAD to every GET (the document says so)
    assert routed == set(operations()), (
        "app/server/app.py and app/server/openapi.py disagree; undocumented: "
        f"{sorted(routed - set(operations()))}, documented but not routed: "
        f"{sorted(set(operations()) - routed)}")
    assert all(op["responses"] and op["operationId"] for op in operations().values())
    ids = [op["operationId"] for op in operations().values()]
    assert len(ids) == len(set(ids))


def check_answer(method: str, path: str, status: int, content_type: str, body: object) -> None:
    """The answer's status is documented for this operation (another method on a documented
    path: for every operation there), and its body matches the documented schema."""
    item = DOC["paths"][path]
    ops = [item[method.lower()]] if method.lower() in item else [
        op for m, op in item.items() if m in METHODS]
    assert ops, (method, path)
    for op in ops:
        responses = op["responses"]
        assert str(status) in responses, (
            f"{method} {path} answered {status}, which the document does not list "
            f"({sorted(responses)})")
        content = resolve(responses[str(status)])["content"]
        assert content_type in content, (method, path, status, content_type, sorted(content))
        if content_type == "application/json":
            schema = content[content_type]["schema"]
            errors = [f"{e.instance_path}: {e.message}" for e in
                      jsonschema_rs.Draft202012Validator(resolve(schema)).iter_errors(body)]
            assert not errors, (method, path, status, body, errors)


class Client:
    """Sends requests to the running utility and checks each answer against the document."""

    def __init__(self, utility):
        self.utility = utility
        self.seen: set[tuple[str, str, int]] = set()

    async def send(self, method: str, url: str, path: str, expect: int | set[int],
                   **kwargs: Any) -> tuple[dict[str, Any] | bytes, dict[str, str]]:
        async with self.utility.http.request(method, url, **kwargs) as response:
            raw = await response.read()
            body = await response.json() if response.content_type == "application/json" else raw
            assert response.status in (expect if isinstance(expect, set) else {expect}), (
                method, url, response.status, body)
            check_answer(method, path, response.status, response.content_type, body)
            if response.status >= 400:  # the one error shape, whatever the route
                assert set(body) == {"status", "message", "errors"} and body["message"], body
            self.seen.add((path, method, response.status))
            return body, dict(response.headers)

    async def post(self, expect: int | set[int], *, json: object = None,
                   **kwargs: Any) -> dict[str, Any]:
        if json is not None:
            kwargs["json"] = json
        body, _ = await self.send("POST", "/api/invoice", "/api/invoice", expect, **kwargs)
        assert isinstance(body, dict)
        return body


def _form(fields: dict[str, object], *, multipart: bool) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False, default_to_multipart=multipart)
    for name, value in fields.items():
        form.add_field(name, str(value))
    return form


INVALID = [  # (change to a valid invoice, the field the 400 must name)
    ({"amount": -1}, "amount"), ({"amount": "lots"}, "amount"), ({"amount": True}, "amount"),
    ({"total_amount": 0}, "total_amount"), ({"tax_rate": 101}, "tax_rate"),
    ({"tax_amount": -1}, "tax_amount"), ({"tax_amount": "1e400"}, "tax_amount"),
    ({"date_time": "2026-02-30 10:00:00"}, "date_time"), ({"date_time": "yesterday"}, "date_time"),
    ({"payment_mode": 3}, "payment_mode"), ({"invoice_no": "x" * 51}, "invoice_no"),
    ({"invoice_no": "a\nb"}, "invoice_no"), ({"ntn": "  "}, "ntn"), ({"pos_id": []}, "pos_id"),
    ({"key": None}, "key"), ({"date": "2026-11-21 10:00:01"}, "date_time"),
    ({"sales_tax": 11}, "tax_amount"),
]


HELD = {"ntn": "N-HELD", "pos_id": "P-HELD", "key": "not-known-upstream"}  # KPRA refuses it


@pytest.fixture
async def utility(tmp_path, sandbox) -> AsyncIterator[Utility]:
    """conftest's utility, with a second POS whose key the tax authority does not know."""
    data_dir = tmp_path / "data"
    configure_pos(data_dir)
    configure_pos(data_dir, **HELD)
    running = await Utility(data_dir, sandbox).start()
    yield running
    await running.stop()


async def test_real_answers_are_documented_and_match_their_schemas(utility):
    client = Client(utility)
    # 201: JSON, with and without warnings, live-API names, form and multipart; a replay
    created = await client.post(201, json=invoice("DOC-1"))
    assert created["data"]["state"] == "queued" and created["data"]["warnings"] == []
    warned = await client.post(201, json={**invoice("DOC-2", tax_amount=3, total_amount=999),
                                          "date_time": "2099-01-01T00:00:00.5+05:00"})
    assert {w["code"] for w in warned["data"]["warnings"]} == {
        "tax_mismatch", "total_mismatch", "future_date"}
    live = {k: v for k, v in invoice("DOC-3").items() if k not in ("amount", "tax_amount",
                                                                   "date_time")}
    live |= {"sales_tax": 10, "date": "2026-11-21 10:00:00"}
    derived = await client.post(201, json=live)
    assert [w["code"] for w in derived["data"]["warnings"]] == ["amount_derived"]
    await client.post(201, data=_form(invoice("DOC-4"), multipart=False))
    await client.post(201, data=_form(invoice("DOC-5", payment_mode=2), multipart=True))
    _, headers = await client.send("POST", "/api/invoice", "/api/invoice", 201,
                                   json=invoice("DOC-1", amount="200.00"))
    assert headers.get("Idempotent-Replayed") == "true"

    # 400: every kind of invalid field names that field; bodies that are no invoice at all
    for change, field in INVALID:
        answer = await client.post(400, json=invoice("DOC-BAD", **change))
        assert field in answer["errors"], (change, answer)
    everything = await client.post(400, json={})
    assert {"ntn", "pos_id", "key", "invoice_no", "amount", "total_amount"} <= set(
        everything["errors"])
    json_type = {"Content-Type": "application/json"}
    for raw in (b"{", b"", b"[1]", b"\xff", b'{"a": "\\ud800"}', b"[" * 10000):
        answer = await client.post(400, data=raw, headers=json_type)
        assert answer["errors"].get("body"), (raw[:20], answer)
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    repeated = await client.post(400, data="invoice_no=1&invoice_no=2", headers=form_type)
    assert "invoice_no" in repeated["errors"]
    with_file = aiohttp.FormData()
    with_file.add_field("invoice_no", b"1", filename="x.txt")
    assert "invoice_no" in (await client.post(400, data=with_file))["errors"]
    bad_multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    assert "body" in (await client.post(400, data=b"--y\r\n", headers=bad_multipart))["errors"]
    control_in_part = b'--x\r\nContent-Disposition: form-data; name="a\x1eb"\r\n\r\n1\r\n--x--\r\n'
    answer = await client.post(400, data=control_in_part, headers=bad_multipart)  # was a 500
    assert "body" in answer["errors"]

    # 401, 409, 413, 415
    assert (await client.post(401, json=invoice("DOC-6", key="wrong")))["errors"] == {}
    conflict = await client.post(409, json=invoice("DOC-1", amount=201))
    assert conflict["errors"] == {"invoice_no": "already used for a different invoice on this POS"}
    await client.post(413, json=invoice("DOC-7", note="x" * MAX_BODY))

    async def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(70):
            yield b"x" * 1000

    await client.post(413, data=chunks(), headers=json_type)
    for content_type in ("text/plain", "application/xml"):
        answer = await client.post(415, data=b"{}", headers={"Content-Type": content_type})
        assert "content_type" in answer["errors"]

    # 405, on a POST route and on GET routes (with Allow)
    for method, path, url in (("GET", "/api/invoice", "/api/invoice"),
                              ("PUT", "/api/invoice", "/api/invoice"),
                              ("POST", "/api/health", "/api/health"),
                              ("DELETE", "/api/invoices/{pos_id}/{invoice_no}",
                               f"/api/invoices/{POS_ID}/DOC-1"),
                              ("POST", "/", "/"), ("POST", "/api/qr", "/api/qr"),
                              ("PATCH", "/api/openapi.json", "/api/openapi.json")):
        _, headers = await client.send(method, url, path, 405)
        assert headers["Allow"], (method, url)

    # the read-only routes
    status_path = "/api/invoices/{pos_id}/{invoice_no}"
    await wait_for(lambda: _state(client, "DOC-1", "synced"), what="DOC-1 synced")
    synced, _ = await client.send("GET", f"/api/invoices/{POS_ID}/DOC-1", status_path, 200)
    assert synced["data"]["transaction_id"] and synced["data"]["attempts"]
    queued, _ = await client.send("GET", f"/api/invoices/{POS_ID}/DOC-2", status_path, 200)
    assert queued["data"]["warnings"]
    await client.send("GET", f"/api/invoices/{POS_ID}/NOT-THERE", status_path, 404)
    await client.send("GET", "/api/invoices/NOBODY/a/b", status_path, 404)
    await client.send("GET", "/api/health", "/api/health", 200)
    for query, expect in (({"pos_id": POS_ID, "invoice_no": "DOC-1"}, 200),
                          ({"pos_id": POS_ID, "invoice_no": "DOC-1", "format": "SVG"}, 200),
                          ({"pos_id": POS_ID}, 400), ({"format": "gif"}, 400),
                          ({"pos_id": POS_ID, "invoice_no": "NOT-THERE"}, 404)):
        await client.send("GET", "/api/qr", "/api/qr", expect, params=query)
    home, _ = await client.send("GET", "/", "/", 200)
    assert b"is running" in home
    served, _ = await client.send("GET", "/api/openapi.json", "/api/openapi.json", 200)
    assert served == DOC, "the served document is the one built in app/server/openapi.py"

    await _dashboard_answers(client)

    # a POS whose key the tax authority refuses: held, and health needs attention
    await client.post(201, json=invoice("DOC-H", **HELD))
    await wait_for(lambda: _state(client, "DOC-H", "held", "P-HELD"), what="DOC-H held")
    health, _ = await client.send("GET", "/api/health", "/api/health", 200)
    assert health["message"] == "needs attention" and health["data"]["held_pos"]
    held = await client.post(201, json=invoice("DOC-H2", **HELD))
    assert held["data"]["state"] == "held"
    await client.send("GET", "/api/invoices/P-HELD/DOC-H", status_path, 200)

    # 503: the disk does not take the invoice (as in test_storage_full.py)
    writer = utility.core.store.writer
    await writer.submit(_limit_pages, await writer.submit(_count_pages))
    try:
        answer = await client.post(503, json=invoice("DOC-FULL", note=_incompressible()))
    finally:
        await writer.submit(_limit_pages, None)
    assert answer["errors"] == {}

    # what app/server/security.py refuses: another Host name (DNS rebinding), a cross-site
    # browser post, and (last: it blocks this client's posts for a while) too many wrong keys
    for method, url, path in (("GET", "/api/health", "/api/health"),
                              ("POST", "/api/invoice", "/api/invoice")):
        answer, _ = await client.send(method, url, path, 421, headers={"Host": "evil.example"})
        assert "host" in answer["errors"]
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        await client.post(403, json=invoice("DOC-X"), headers=headers)
    for _ in range(30):
        answer = await client.post({401, 429}, json=invoice("DOC-6", key="wrong"))
        if answer["status"] == 429:
            break
    assert answer["status"] == 429 and "key" in answer["errors"]

    # every status the document lists for POST /api/invoice was seen, but a bug's 500 and a
    # slow body's 408 (tests/integration/test_localhost_security.py waits for that one)
    documented = set(DOC["paths"]["/api/invoice"]["post"]["responses"])
    seen = {str(s) for p, m, s in client.seen if p == "/api/invoice"}
    assert documented - seen <= {"500", "408"}, sorted(documented - seen)


async def _dashboard_answers(client: Client) -> None:
    """The dashboard's pages, sign-in, session, sign-out and its API (session_api.py)."""
    for path in ("/login.html", "/dashboard.html"):
        await client.send("GET", path, path, 200)
    for name in sorted(ASSETS):  # every file of the dashboard, each of its documented type
        await client.send("GET", f"/web/{name}", "/web/{name}", 200)
    await client.send("GET", "/web/other.js", "/web/{name}", 404)
    await client.send("GET", "/favicon.ico", "/favicon.ico", 200)
    session, sending = "/api/session", "/api/dashboard/sending"
    await client.send("GET", session, session, 401)
    await client.send("GET", sending, sending, 401)
    await client.send("POST", sending, sending, 401, json={"paused": True})
    await client.send("DELETE", session, session, 401)
    await client.send("POST", session, session, 400, json={"pos_id": ""})
    await client.send("POST", session, session, 415, data=b"x", headers={
        "Content-Type": "text/plain"})
    await client.send("POST", session, session, 401, json={"pos_id": POS_ID, "key": "wrong"})
    await client.send("POST", session, session, 403, json={"pos_id": POS_ID, "key": KEY},
                      headers={"Origin": "http://evil.example"})
    signed_in, headers = await client.send("POST", session, session, 200,
                                           json={"pos_id": POS_ID, "key": KEY})
    token = headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    cookie = {"Cookie": f"rims_session={token}"}
    csrf = {**cookie, "X-CSRF-Token": signed_in["data"]["csrf_token"]}
    await client.send("GET", session, session, 200, headers=cookie)
    await client.send("GET", sending, sending, 200, headers=cookie)
    await client.send("POST", sending, sending, 403, json={"paused": True}, headers=cookie)
    await client.send("POST", sending, sending, 400, json={"paused": 1}, headers=csrf)
    await client.send("POST", sending, sending, 415, data=b"{}", headers={
        **csrf, "Content-Type": "text/plain"})
    await client.send("POST", sending, sending, 200, json={"paused": True}, headers=csrf)
    await client.send("POST", sending, sending, 200, json={"paused": False}, headers=csrf)
    await _dashboard_api_answers(client, cookie, csrf)
    await client.send("PUT", session, session, 405, headers=csrf)
    await client.send("DELETE", session, session, 403, headers=cookie)
    await client.send("DELETE", session, session, 200, headers=csrf)
    await client.send("GET", session, session, 401, headers=cookie)
    for _ in range(30):
        answer, _ = await client.send("POST", session, session, {401, 429},
                                      json={"pos_id": POS_ID, "key": "wrong"})
        if answer["status"] == 429:
            break
    assert answer["status"] == 429


DASHBOARD = "/api/dashboard/"
LIST, DETAIL, RETRY = (f"{DASHBOARD}invoices", f"{DASHBOARD}invoices/{{invoice_id}}",
                       f"{DASHBOARD}invoices/{{invoice_id}}/retry")
EXPORT = f"{DASHBOARD}export/{{name}}.{{format}}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _dashboard_api_answers(client: Client, cookie: dict[str, str],
                                 csrf: dict[str, str]) -> None:
    """Every /api/dashboard/ operation (dashboard_api.py, invoices_api.py, reports_api.py,
    exports_api.py): each of its answers, signed in and not, checked against the document."""
    sandbox = client.utility.sandbox

    async def get(url: str, path: str, expect: int = 200, **params: object) -> Any:
        body, _ = await client.send("GET", url, path, expect, headers=cookie,
                                    params={k: str(v) for k, v in params.items()})
        return body

    async def post(url: str, path: str, expect: int, **kwargs: Any) -> dict[str, Any]:
        body, _ = await client.send("POST", url, path, expect, **{"headers": csrf, **kwargs})
        assert isinstance(body, dict)
        return body

    async def id_of(number: str) -> int:
        return (await get(LIST, LIST, q=number))["data"]["items"][0]["id"]

    # a rejected invoice, and a held one (this POS's key refused once: the POS is held)
    sandbox.faults.reject_next = 1
    await client.post(201, json=invoice("DOC-R"))
    await wait_for(lambda: _state(client, "DOC-R", "rejected"), what="DOC-R rejected")
    sandbox.faults.unauthorized_next = 1
    await client.post(201, json=invoice("DOC-U", payment_mode=2))
    await wait_for(lambda: _state(client, "DOC-U", "held"), what="DOC-U held")

    overview = (await get(f"{DASHBOARD}overview", f"{DASHBOARD}overview"))["data"]
    assert overview["counts"]["rejected"] and overview["held_pos"] and overview["problems"]
    pos = (await get(f"{DASHBOARD}pos", f"{DASHBOARD}pos"))["data"]["pos_ids"]
    assert POS_ID in pos

    # the list: filters, pages, and every kind of invalid parameter named in a 400
    page = (await get(LIST, LIST, limit=1, state="UNCONFIRMED"))["data"]
    assert len(page["items"]) == 1 and page["next"]
    await get(LIST, LIST, limit=1, state="unconfirmed", after=page["next"])
    for params in ({"q": "DOC-", "pos_id": POS_ID, "payment_mode": 2, "state": "pending"},
                   {"from": "2026-11-21", "to": "2026-11-21", "state": "synced"}, {"q": " "}):
        await get(LIST, LIST, **params)
    for params, field in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
                          ({"limit": "x"}, "limit"), ({"after": "not-a-cursor"}, "after"),
                          ({"state": "lost"}, "state"), ({"payment_mode": 3}, "payment_mode"),
                          ({"from": "2026-02-30"}, "from"), ({"to": "21/11/2026"}, "to"),
                          ({"from": "2026-11-22", "to": "2026-11-21"}, "to"),
                          ({"q": "x" * (validation.MAX_INVOICE_NO + 1)}, "q"),
                          ({"pos_id": "p" * (validation.MAX_ID + 1)}, "pos_id")):
        answer = await get(LIST, LIST, 400, **params)
        assert field in answer["errors"], (params, answer)

    # detail and retry: rejected → queued, held → POS released, queued → due now,
    # synced → 409; no such id → 404
    rejected, held = await id_of("DOC-R"), await id_of("DOC-U")
    detail = (await get(f"{DASHBOARD}invoices/{rejected}", DETAIL))["data"]
    assert detail["can_retry"] and detail["attempts_list"][0]["outcome"] == "rejected"
    for missing in ("999999", "abc", "0"):
        answer = await get(f"{DASHBOARD}invoices/{missing}", DETAIL, 404)
        assert "invoice_id" in answer["errors"]
        await post(f"{DASHBOARD}invoices/{missing}/retry", RETRY, 404)
    again = await post(f"{DASHBOARD}invoices/{rejected}/retry", RETRY, 200)
    assert again["data"]["requeued"] == 1 and again["data"]["invoice"]["state"] == "queued"
    released = await post(f"{DASHBOARD}invoices/{held}/retry", RETRY, 200)
    assert released["data"]["requeued"] >= 1
    for number in ("DOC-R", "DOC-U"):
        await wait_for(lambda n=number: _state(client, n, "synced"), what=f"{number} synced")
    synced = await post(f"{DASHBOARD}invoices/{rejected}/retry", RETRY, 409)
    assert synced["errors"] == {"state": "synced"}
    await client.send("POST", f"{DASHBOARD}invoices/{rejected}/retry", RETRY, 403,
                      headers=cookie)
    sending = f"{DASHBOARD}sending"
    await client.send("POST", sending, sending, 200, json={"paused": True}, headers=csrf)
    try:
        await client.post(201, json=invoice("DOC-Q"))
        queued = await post(f"{DASHBOARD}invoices/{await id_of('DOC-Q')}/retry", RETRY, 200)
        assert queued["data"]["invoice"]["state"] == "queued"
        assert queued["data"]["invoice"]["next_attempt_at"]
    finally:
        await client.send("POST", sending, sending, 200, json={"paused": False}, headers=csrf)

    # retry everything rejected / held
    retry_all = f"{DASHBOARD}retry"
    for body in ({}, {"states": ["held"]}, {"states": ["rejected", "held"]}):
        await post(retry_all, retry_all, 200, json=body)
    for body in ({"states": []}, {"states": ["synced"]}, {"states": "rejected"}):
        assert "states" in (await post(retry_all, retry_all, 400, json=body))["errors"]
    await post(retry_all, retry_all, 400, data=b"{", headers={
        **csrf, "Content-Type": "application/json"})
    await post(retry_all, retry_all, 415, data=b"{}", headers={
        **csrf, "Content-Type": "text/plain"})
    await client.send("POST", retry_all, retry_all, 403, json={}, headers=cookie)

    # reports and charts
    sales, reconciliation = f"{DASHBOARD}reports/sales", f"{DASHBOARD}reports/reconciliation"
    span = {"from": "2026-11-01", "to": "2026-11-30"}
    report = (await get(sales, sales, **span))["data"]
    assert report["rows"] and report["totals"]["count"] >= 3
    await get(sales, sales, period="MONTH", payment_mode=1, pos_id=POS_ID, state="synced")
    await get(sales, sales)
    for params, field in (({"period": "week"}, "period"), ({"from": "soon"}, "from"),
                          ({"state": "x"}, "state")):
        assert field in (await get(sales, sales, 400, **params))["errors"]
    recon = (await get(reconciliation, reconciliation, **span))["data"]
    assert recon["local"]["count"] == recon["confirmed"]["count"] + recon["unconfirmed"]["count"]
    await get(reconciliation, reconciliation)
    assert "to" in (await get(reconciliation, reconciliation, 400, **{
        "from": "2026-12-01", "to": "2026-11-01"}))["errors"]
    for name in ("daily", "hourly"):
        chart = f"{DASHBOARD}charts/{name}.svg"
        for measure in ({}, {"measure": "sales"}, {"measure": "TAX"}):
            assert (await get(chart, chart, **measure)).startswith(b"<?xml")
        assert "measure" in (await get(chart, chart, 400, measure="count"))["errors"]

    # exports
    for name in ("invoices", "sales", "reconciliation"):
        body = await get(f"{DASHBOARD}export/{name}.csv", EXPORT, **span)
        assert body.startswith("\ufeff".encode())
        body = await get(f"{DASHBOARD}export/{name}.xlsx", EXPORT, period="month")
        assert zipfile.is_zipfile(io.BytesIO(body))
    await get(f"{DASHBOARD}export/invoices.csv", EXPORT, state="pending", payment_mode=2)
    for url, field in ((f"{DASHBOARD}export/invoices.pdf", "format"),
                       (f"{DASHBOARD}export/everything.csv", "name")):
        assert field in (await get(url, EXPORT, 404))["errors"]
    assert "from" in (await get(f"{DASHBOARD}export/sales.xlsx", EXPORT, 400,
                                **{"from": "x"}))["errors"]

    await _kenya_dashboard_answers(client, get, rejected)

    # without a session: 401 everywhere; another method: 405
    urls = {f"{DASHBOARD}overview": None, f"{DASHBOARD}pos": None, LIST: None,
            f"{DASHBOARD}invoices/{rejected}": DETAIL, sales: None, reconciliation: None,
            f"{DASHBOARD}charts/daily.svg": None, f"{DASHBOARD}charts/hourly.svg": None,
            f"{DASHBOARD}export/invoices.csv": EXPORT, f"{DASHBOARD}authority": None,
            f"{DASHBOARD}customers": None, f"{DASHBOARD}reports/tax-bands": None,
            f"{DASHBOARD}invoices/{rejected}/receipt-qr.svg": RECEIPT_QR}
    for url, path in urls.items():
        await client.send("GET", url, path or url, 401)
        await client.send("PUT", url, path or url, 405, headers=csrf)
    for url, path in ((retry_all, retry_all), (f"{DASHBOARD}invoices/{rejected}/retry", RETRY)):
        await client.send("POST", url, path, 401, json={})
        await client.send("GET", url, path, 405, headers=cookie)

    # every answer each of these operations documents was seen, but those no request here can
    # cause: a bug's 500, another Host's 421, a slow or huge body's 408 / 413, and a GET's 403
    # (only security.py's allowed_clients, in LAN mode, refuses a GET)
    for (path, method), operation in operations().items():
        if path.startswith(DASHBOARD) and path != sending:
            seen = {str(s) for p, m, s in client.seen  # (405: another method on the path)
                    if p == path and (m == method or s == 405)}
            unseen = set(operation["responses"]) - seen - {"500", "421", "408", "413"}
            if method == "GET":
                unseen.discard("403")
            assert not unseen, (method, path, sorted(unseen))


RECEIPT_QR = f"{DASHBOARD}invoices/{{invoice_id}}/receipt-qr.{{format}}"


async def _kenya_dashboard_answers(client: Client, get: Any, invoice_id: int) -> None:
    """The Kenya routes of the dashboard (dashboard_kenya.py). Their Kenya answers in full:
    tests/integration/test_dashboard_kenya_api.py; here every documented status once."""
    authority, customers = f"{DASHBOARD}authority", f"{DASHBOARD}customers"
    bands = f"{DASHBOARD}reports/tax-bands"
    assert (await get(authority, authority))["data"]["upstream"] == "kpra"
    await get(customers, customers, 404, pin="P051234567A")
    await get(bands, bands)
    assert "from" in (await get(bands, bands, 400, **{"from": "soon"}))["errors"]
    for fmt in ("svg", "png"):
        await get(f"{DASHBOARD}invoices/{invoice_id}/receipt-qr.{fmt}", RECEIPT_QR)
    await get(f"{DASHBOARD}invoices/999999/receipt-qr.svg", RECEIPT_QR, 404)
    await get(f"{DASHBOARD}invoices/{invoice_id}/receipt-qr.gif", RECEIPT_QR, 404)
    for name in ("tax-bands.csv", "tax-bands.xlsx"):
        await get(f"{DASHBOARD}export/{name}", EXPORT)
    # as with ProTax (Core fills these in from settings.upstream and the Facade)
    deps = client.utility.core._runner.app[DEPS]

    async def look_up(pin: str) -> dict | None:
        if pin == "A000000000Z":
            raise RuntimeError("ProTax did not answer")
        return {"name": "Mombasa Auto Spares Ltd"} if pin == "P051234567A" else None

    saved = deps.upstream, deps.lookup_customer
    deps.upstream, deps.lookup_customer = "protax", look_up
    try:
        assert (await get(customers, customers, pin="p051234567a"))["data"]["found"]
        assert not (await get(customers, customers, pin="P000000000X"))["data"]["found"]
        await get(customers, customers, 400, pin="P05")
        await get(customers, customers, 502, pin="A000000000Z")
        await get(authority, authority)
    finally:
        deps.upstream, deps.lookup_customer = saved


async def _state(client: Client, number: str, state: str, pos_id: str = POS_ID) -> bool:
    return await client.utility.state_of(number, pos_id) == state


def _incompressible() -> str:
    """30,000 characters that need new pages even deflated (the store packs the till's JSON)."""
    return base64.b64encode(os.urandom(22_500)).decode()


def _limit_pages(db, pages: int | None) -> None:  # runs in the writer process
    db.execute_sql(f"PRAGMA max_page_count = {1073741823 if pages is None else int(pages)}")


def _count_pages(db) -> int:  # runs in the writer process
    return db.execute_sql("PRAGMA page_count").fetchone()[0]

