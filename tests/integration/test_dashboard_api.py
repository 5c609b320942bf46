"""The dashboard's JSON API against the real server, store and sandbox: overview, the invoice
list (filters, search, keyset pages), detail, retries, reports, reconciliation, exports and
charts. Sums are checked with Decimal against what was posted."""

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from decimal import Decimal

import openpyxl
import pytest

from tests.conftest import wait_for
from tests.integration.conftest import POS_ID, Utility, invoice
from tests.integration.test_dashboard_session import Browser, browser_of

TODAY = dt.date.today()
NOW = dt.datetime.now().replace(microsecond=0)


def at(days_ago: int, hour: int = 10) -> str:
    day = TODAY - dt.timedelta(days=days_ago)
    return f"{day.isoformat()} {hour:02d}:00:00"


@pytest.fixture
async def signed_in(utility: Utility) -> AsyncIterator[Browser]:
    async with browser_of(utility) as browser:
        status, body, _ = await browser.sign_in()
        assert status == 200, body
        yield browser


async def get(browser: Browser, path: str, **params: object) -> dict:
    status, body, _ = await browser.call("GET", path, params={k: str(v) for k, v in params.items()})
    assert status == 200, body
    return body["data"]


async def post(browser: Browser, path: str, body: object | None = None) -> tuple[int, dict]:
    status, answer, _ = await browser.call("POST", path, json={} if body is None else body,
                                           headers={"X-CSRF-Token": browser.csrf or ""})
    return status, answer


async def post_all(utility: Utility, invoices: list[dict]) -> None:
    for body in invoices:
        status, answer, _ = await utility.post(body)
        assert status == 201, answer
    for body in invoices:
        await wait_for(lambda b=body: _synced(utility, b["invoice_no"]),
                       what=f"{body['invoice_no']} synced")


async def _synced(utility: Utility, number: str) -> bool:
    return await utility.state_of(number) == "synced"


# A day's sales whose exact sum float arithmetic gets wrong (0.1 + 0.2).
SALES = [
    invoice("D-1", amount="0.10", tax_rate=0, tax_amount=0, total_amount="0.10", date_time=at(0, 9)),
    invoice("D-2", amount="0.20", tax_rate=0, tax_amount=0, total_amount="0.20", date_time=at(0, 9),
            payment_mode=2),
    invoice("D-3", amount=1000, tax_rate=16, tax_amount=160, total_amount=1160, date_time=at(0, 14)),
    invoice("D-4", amount=500, tax_rate=16, tax_amount=80, total_amount=580, date_time=at(3)),
    invoice("OLD-1", amount=100, tax_rate=16, tax_amount=16, total_amount=116, date_time=at(45)),
]


async def test_overview_counts_and_exact_sums(utility, signed_in):
    await post_all(utility, SALES)
    data = await get(signed_in, "/api/dashboard/overview")
    assert data["today"] == TODAY.isoformat()
    assert data["sales_today"] == {"count": 3, "amount": "1000.30", "tax": "160",
                                   "total": "1160.30"}
    assert data["counts"]["synced"] == 5 and data["pending"] == 0
    assert data["last_successful_sync"] is not None and data["problems"] == []
    assert len(data["daily"]) == 30 and data["daily"][-1]["day"] == TODAY.isoformat()
    assert data["daily"][-1]["total"] == "1160.30"
    assert data["daily"][-4] == {"day": (TODAY - dt.timedelta(days=3)).isoformat(), "count": 1,
                                 "amount": "500", "tax": "80", "total": "580"}
    assert sum(d["count"] for d in data["daily"]) == 4, "the 45-day-old sale is outside"
    assert [h["count"] for h in data["hourly"] if h["count"]] == [2, 1]
    assert data["hourly"][9]["total"] == "0.30" and data["hourly"][14]["tax"] == "160"


async def test_list_filters_search_and_keyset_pages(utility, signed_in):
    await post_all(utility, SALES)
    items = (await get(signed_in, "/api/dashboard/invoices"))["items"]
    assert [i["invoice_no"] for i in items] == ["D-3", "D-2", "D-1", "D-4", "OLD-1"], \
        "newest invoice date first; same time: newest id first"
    d2 = items[1]
    assert d2["payment_mode_name"] == "Card" and d2["total_amount"] == "0.20"
    assert d2["state"] == "synced" and d2["transaction_id"]

    async def numbers(**params: object) -> list[str]:
        return [i["invoice_no"] for i in (await get(signed_in, "/api/dashboard/invoices",
                                                    **params))["items"]]

    assert await numbers(payment_mode=2) == ["D-2"]
    assert await numbers(q="D-") == ["D-3", "D-2", "D-1", "D-4"]
    assert await numbers(q="OLD-1") == ["OLD-1"]
    assert await numbers(q="d-") == [], "invoice numbers are matched as typed"
    assert await numbers(**{"from": at(3)[:10], "to": at(3)[:10]}) == ["D-4"]
    assert await numbers(**{"from": TODAY.isoformat()}) == ["D-3", "D-2", "D-1"]
    assert await numbers(state="pending") == [] and await numbers(state="synced") != []
    assert await numbers(pos_id=POS_ID) == await numbers()
    assert await numbers(pos_id="OTHER") == []

    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"after": after} if after else {})
        page = await get(signed_in, "/api/dashboard/invoices", **params)
        seen += [i["invoice_no"] for i in page["items"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert pages == 3 and seen == ["D-3", "D-2", "D-1", "D-4", "OLD-1"], "no row twice or lost"

    assert (await get(signed_in, "/api/dashboard/pos"))["pos_ids"] == [POS_ID]


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "21-11-2026"}, "from"),
    ({"from": "2026-02-30"}, "from"),
    ({"from": "2026-11-21", "to": "2026-11-01"}, "to"),
    ({"state": "lost"}, "state"),
    ({"payment_mode": "3"}, "payment_mode"),
    ({"limit": "0"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"after": "not-a-cursor"}, "after"),
    ({"limit": "²"}, "limit"),  # a digit to str.isdigit(), not to int()
    ({"from": "2026-W47-6"}, "from"),  # an ISO week date: fromisoformat takes it
    # base64 of "999…9|2026-01-01 00:00:00": an id beyond SQLite's integers
    ({"after": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5fDIwMjYtMDEtMDEgMDA6MDA6MDA"}, "after"),
    ({"q": "x" * 51}, "q"),
])
async def test_bad_filters_are_400_naming_the_field(signed_in, params, field):
    status, body, _ = await signed_in.call("GET", "/api/dashboard/invoices", params=params)
    assert status == 400 and field in body["errors"], body
    assert field in body["message"]


async def test_detail_has_attempts_warnings_and_qr(utility, signed_in):
    await post_all(utility, SALES[:1])
    row = (await get(signed_in, "/api/dashboard/invoices"))["items"][0]
    detail = await get(signed_in, f"/api/dashboard/invoices/{row['id']}")
    assert detail["invoice_no"] == "D-1" and detail["ntn"] and detail["transaction_id"]
    assert [a["outcome"] for a in detail["attempts_list"]] == ["accepted"]
    assert detail["attempts_list"][0]["http_status"] == 201
    assert detail["qr_url"].startswith("https://") and "invoice_no=D-1" in detail["qr_url"]
    assert detail["can_retry"] is False
    assert signed_in.http is not None
    async with signed_in.http.get(detail["qr_png"]) as response:
        assert response.status == 200 and response.content_type == "image/png"
        assert (await response.read()).startswith(b"\x89PNG")
    for missing in ("999999", "abc", "-1", "²", "9" * 30):
        status, body, _ = await signed_in.call("GET", f"/api/dashboard/invoices/{missing}")
        assert status == 404 and "invoice_id" in body["errors"]


async def test_rejected_invoice_is_retried_and_synced(utility, signed_in):
    utility.sandbox.faults.reject_next = 1
    status, _, _ = await utility.post(invoice("R-1"))
    assert status == 201
    await wait_for(lambda: _state(utility, "R-1", "rejected"), what="R-1 rejected")
    overview = await get(signed_in, "/api/dashboard/overview")
    assert overview["counts"]["rejected"] == 1
    assert overview["problems"][0]["state"] == "rejected"
    assert "tax_amount" in overview["problems"][0]["reason"]
    row = (await get(signed_in, "/api/dashboard/invoices", state="rejected"))["items"][0]
    assert row["invoice_no"] == "R-1" and row["last_error"]

    status, answer = await post(signed_in, f"/api/dashboard/invoices/{row['id']}/retry")
    assert status == 200 and answer["data"]["requeued"] == 1, answer
    await wait_for(lambda: _state(utility, "R-1", "synced"), what="R-1 synced after retry")
    detail = await get(signed_in, f"/api/dashboard/invoices/{row['id']}")
    assert [a["outcome"] for a in detail["attempts_list"]] == \
        ["rejected", "retry_requested", "accepted"]
    assert f"POS {POS_ID}" in detail["attempts_list"][1]["message"]

    status, answer = await post(signed_in, f"/api/dashboard/invoices/{row['id']}/retry")
    assert status == 409 and answer["errors"] == {"state": "synced"}
    assert utility.sandbox.received_count(POS_ID, "R-1") == 2


async def test_retry_all_releases_held_and_requeues_rejected(utility, signed_in):
    utility.sandbox.faults.reject_next = 1
    await utility.post(invoice("RA-1"))
    await wait_for(lambda: _state(utility, "RA-1", "rejected"), what="RA-1 rejected")
    utility.sandbox.faults.unauthorized_next = 1
    await utility.post(invoice("RA-2"))
    await wait_for(lambda: _state(utility, "RA-2", "held"), what="RA-2 held")

    status, answer = await post(signed_in, "/api/dashboard/retry", {"states": ["rejected", "held"]})
    assert status == 200, answer
    assert answer["data"] == {"requeued": 2, "released_pos": [POS_ID]}
    for number in ("RA-1", "RA-2"):
        await wait_for(lambda n=number: _state(utility, n, "synced"), what=f"{number} synced")
    status, answer = await post(signed_in, "/api/dashboard/retry", {"states": ["rejected"]})
    assert status == 200 and answer["data"]["requeued"] == 0
    for bad in ({"states": []}, {"states": ["synced"]}, {"states": "rejected"}):
        status, answer = await post(signed_in, "/api/dashboard/retry", bad)
        assert status == 400 and "states" in answer["errors"]


async def _state(utility: Utility, number: str, state: str) -> bool:
    return await utility.state_of(number) == state


async def test_sales_report_by_day_month_pos_and_payment_mode(utility, signed_in):
    await post_all(utility, SALES)
    month_start = TODAY.replace(day=1)
    data = await get(signed_in, "/api/dashboard/reports/sales", period="day",
                     **{"from": (TODAY - dt.timedelta(days=60)).isoformat(),
                        "to": TODAY.isoformat()})
    assert data["totals"] == {"count": 5, "amount": "1600.30", "tax": "256", "total": "1856.30"}
    today_rows = [r for r in data["rows"] if r["period"] == TODAY.isoformat()]
    assert [(r["payment_mode_name"], r["count"], r["total"]) for r in today_rows] == \
        [("Cash", 2, "1160.10"), ("Card", 1, "0.20")]
    assert {m["payment_mode_name"]: m["total"] for m in data["by_payment_mode"]} == \
        {"Cash": "1856.10", "Card": "0.20"}
    assert data["by_pos"] == [{"pos_id": POS_ID, "count": 5, "amount": "1600.30", "tax": "256",
                               "total": "1856.30"}]
    monthly = await get(signed_in, "/api/dashboard/reports/sales", period="month",
                        **{"from": (TODAY - dt.timedelta(days=60)).isoformat()})
    assert sum(Decimal(r["total"]) for r in monthly["rows"]) == Decimal("1856.30")
    assert all(len(r["period"]) == 7 for r in monthly["rows"])
    default = await get(signed_in, "/api/dashboard/reports/sales")
    assert default["from"] == month_start.isoformat() and default["to"] == TODAY.isoformat()
    status, body, _ = await signed_in.call("GET", "/api/dashboard/reports/sales",
                                           params={"period": "week"})
    assert status == 400 and "period" in body["errors"]


async def test_reconciliation_separates_confirmed_from_unconfirmed(utility, signed_in):
    await post_all(utility, SALES[:3])
    await post(signed_in, "/api/dashboard/sending", {"paused": True})
    status, _, _ = await utility.post(invoice("U-1", amount=50, tax_rate=0, tax_amount=0,
                                              total_amount=50, date_time=at(0, 15)))
    assert status == 201
    span = {"from": TODAY.isoformat(), "to": TODAY.isoformat()}
    data = await get(signed_in, "/api/dashboard/reports/reconciliation", **span)
    assert data["local"]["count"] == 4 and data["local"]["total"] == "1210.30"
    assert data["confirmed"] == {"count": 3, "amount": "1000.30", "tax": "160", "total": "1160.30"}
    assert data["unconfirmed"]["count"] == 1
    assert Decimal(data["unconfirmed"]["total"]) == Decimal(50)
    [day] = data["days"]
    assert Decimal(day.pop("unconfirmed_total")) == Decimal(50)
    assert day == {"day": TODAY.isoformat(), "local_count": 4, "local_total": "1210.30",
                   "confirmed_count": 3, "confirmed_total": "1160.30", "unconfirmed_count": 1}
    unconfirmed = await get(signed_in, "/api/dashboard/invoices", state="unconfirmed", **span)
    assert [i["invoice_no"] for i in unconfirmed["items"]] == ["U-1"]


async def download(browser: Browser, path: str, **params: object) -> tuple[bytes, dict]:
    assert browser.http is not None
    async with browser.http.get(path, params={k: str(v) for k, v in params.items()}) as response:
        assert response.status == 200, await response.text()
        return await response.read(), dict(response.headers)


async def test_exports_have_every_row_and_exact_totals(utility, signed_in):
    await post_all(utility, SALES)
    body, headers = await download(signed_in, "/api/dashboard/export/invoices.csv")
    assert headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    assert body.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["POS ID", "Invoice no", "Date and time"]
    assert [r[1] for r in rows[1:]] == ["D-3", "D-2", "D-1", "D-4", "OLD-1"]
    assert sum(Decimal(r[7]) for r in rows[1:]) == Decimal("1856.30")

    body, _ = await download(signed_in, "/api/dashboard/export/invoices.csv", payment_mode=2)
    assert [r[1] for r in list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:]] == ["D-2"]

    body, headers = await download(signed_in, "/api/dashboard/export/invoices.xlsx")
    assert headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert [v[1] for v in values[1:]] == ["D-3", "D-2", "D-1", "D-4", "OLD-1"]
    assert sum(Decimal(str(v[7])) for v in values[1:]) == Decimal("1856.30")

    span = {"from": (TODAY - dt.timedelta(days=60)).isoformat(), "to": TODAY.isoformat()}
    body, _ = await download(signed_in, "/api/dashboard/export/sales.csv", **span)
    sales = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert sales[-1][0] == "Total" and sales[-1][3:] == ["5", "1600.30", "256", "1856.30"]
    body, _ = await download(signed_in, "/api/dashboard/export/reconciliation.xlsx", **span)
    values = list(openpyxl.load_workbook(io.BytesIO(body), read_only=True).active
                  .iter_rows(values_only=True))
    assert values[-1][0] == "Total" and values[-1][1] == 5
    assert Decimal(str(values[-1][2])) == Decimal("1856.30")

    for path, field in (("/api/dashboard/export/invoices.pdf", "format"),
                        ("/api/dashboard/export/everything.csv", "name")):
        status, answer, _ = await signed_in.call("GET", path)
        assert status == 404 and field in answer["errors"]


async def test_charts_are_svg_with_a_description(utility, signed_in):
    await post_all(utility, SALES[:3])
    for name in ("daily", "hourly"):
        for measure in ("sales", "tax"):
            body, headers = await download(signed_in, f"/api/dashboard/charts/{name}.svg",
                                           measure=measure)
            assert headers["Content-Type"].startswith("image/svg+xml")
            root = ET.fromstring(body)
            assert root.tag.endswith("svg") and root.get("role") == "img"
            title = root.find("{http://www.w3.org/2000/svg}title")
            assert title is not None and measure.capitalize() in (title.text or "")
    status, answer, _ = await signed_in.call("GET", "/api/dashboard/charts/daily.svg",
                                             params={"measure": "profit"})
    assert status == 400 and "measure" in answer["errors"]


async def test_every_dashboard_route_needs_a_session(utility):
    async with browser_of(utility) as anonymous:
        for path in ("/api/dashboard/overview", "/api/dashboard/invoices",
                     "/api/dashboard/invoices/1", "/api/dashboard/reports/sales",
                     "/api/dashboard/reports/reconciliation", "/api/dashboard/charts/daily.svg",
                     "/api/dashboard/export/invoices.csv", "/api/dashboard/pos"):
            status, _, _ = await anonymous.call("GET", path)
            assert status == 401, path
        status, _ = await post(anonymous, "/api/dashboard/retry", {"states": ["rejected"]})
        assert status == 401


async def test_actions_need_the_csrf_token(utility, signed_in):
    await post_all(utility, SALES[:1])
    for path, body in (("/api/dashboard/retry", {"states": ["rejected"]}),
                       ("/api/dashboard/invoices/1/retry", {})):
        status, answer, _ = await signed_in.call("POST", path, json=body)
        assert status == 403 and "csrf" in answer["errors"], path
        status, answer, _ = await signed_in.call("POST", path, json=body,
                                                 headers={"X-CSRF-Token": "forged"})
        assert status == 403, path
