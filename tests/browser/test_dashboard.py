"""The dashboard in real Chromium, as the shopkeeper and the accountant use it (issue 4): the
overview, the invoice list (search, filters, pages), one invoice with its QR code, retrying a
refused invoice, the reports and reconciliation with their downloads, printing, and a cross-site
page that tries to act on the shopkeeper's behalf. Sales go in through the real POS API and out
to the KPRA sandbox; sums are checked with Decimal against what was posted.

Screenshots (docs/screenshots/): dashboard-overview, dashboard-overview-problems,
dashboard-invoices, dashboard-invoices-empty, dashboard-invoice-detail,
dashboard-invoice-rejected, dashboard-reports,
dashboard-reconciliation, dashboard-print."""

import csv
import io
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import expect

from tests.browser.conftest import screenshot
from tests.browser.helpers import (
    ICON_CANCELLED,
    NOBODY_SIGNED_IN,
    image_loaded,
    low_contrast_texts,
    money_text,
    post_sales,
    sale,
    settled,
    sign_in,
)
from tests.conftest import wait_for
from tests.integration.conftest import configure_pos

REFRESH_MS = 10_000  # the overview and the first page of the list refresh themselves this often
TODAYS = [
    sale("INV-1001", "1000.00", "160.00", hour=9, minute=15),
    sale("INV-1002", "0.10", "0.02", hour=11, mode=2),
    sale("INV-1003", "2500.50", "400.08", hour=13, minute=40),
]
EARLIER = [
    sale("INV-0901", "300", "48", days_ago=3, hour=17),
    sale("INV-0902", "120.25", "19.24", days_ago=8, hour=12, mode=2),
]


@pytest.fixture(autouse=True)
def _expected_page_noise(page_problems) -> None:
    """Every test signs in: the sign-in page first asks who is signed in (401), and leaving it at
    once may cancel its icon's request. Neither is a problem of the dashboard."""
    page_problems.allow(NOBODY_SIGNED_IN)
    page_problems.allow(ICON_CANCELLED)


def total_of(sales: list[dict], field: str = "total_amount") -> Decimal:
    return sum((Decimal(str(s[field])) for s in sales), Decimal(0))


async def test_overview_shows_todays_sales_status_and_charts(page, utility, base_url):
    await page.clock.install()  # the page's timers, moved on by the test (no 10 s waits)
    await post_sales(utility, TODAYS + EARLIER)
    await sign_in(page, base_url)
    await expect(page.locator("#view-overview")).to_be_visible()
    await expect(page.get_by_role("link", name="Overview")).to_have_attribute("aria-current",
                                                                              "page")
    await expect(page.locator("#ov-sales-total")).to_have_text(money_text(total_of(TODAYS)))
    await expect(page.locator("#ov-tax")).to_have_text(money_text(total_of(TODAYS, "tax_amount")))
    await expect(page.locator("#ov-count")).to_have_text("3")
    await expect(page.locator("#ov-reach")).to_have_text("Reachable")
    await expect(page.locator("#ov-no-problems")).to_be_visible()
    await expect(page.get_by_role("button", name="Retry all failed")).to_be_hidden()
    await expect(page.locator("#ov-last-sync")).to_contain_text("ago")
    for chart in ("#chart-daily", "#chart-hourly"):
        await wait_for(lambda c=chart: image_loaded(page, c), what=f"{chart} drawn")
        alt = await page.get_attribute(chart, "alt")
        assert alt and "Bar chart" in alt, alt
    daily_alt = await page.get_attribute("#chart-daily", "alt")
    assert money_text(total_of(TODAYS + EARLIER)) in daily_alt, daily_alt
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-overview")

    # Sales / tax toggle: the charts are drawn again for tax.
    await page.get_by_label("Tax", exact=True).check()
    await expect(page.locator("#chart-daily")).to_have_attribute("src", re.compile("measure=tax"))
    await wait_for(lambda: image_loaded(page, "#chart-daily"), what="tax chart drawn")

    # It keeps itself up to date (every 10 s), without a reload.
    await post_sales(utility, [sale("INV-1004", "10", "1.60", hour=15)])
    await expect(page.locator("#ov-count")).to_have_text("3")
    await page.clock.fast_forward(REFRESH_MS)
    await expect(page.locator("#ov-count")).to_have_text("4")


TILL_2 = {"ntn": "K777001", "pos_id": "K777001", "key": "Till2@key"}


async def add_second_till(utility, sandbox, first_sale: dict) -> None:
    """A second POS, configured as `rims-utility setup` does while the service runs, that KPRA
    (the sandbox) knows; its first sale is accepted once the utility has read the new key
    (it looks again at most every 2 s)."""
    configure_pos(utility.data_dir, **TILL_2)
    sandbox.add_credentials(TILL_2["ntn"], TILL_2["pos_id"], TILL_2["key"])

    async def accepted() -> bool:
        status, _, _ = await utility.post(first_sale)
        return status == 201

    await wait_for(accepted, timeout=10, interval=1.0,  # each miss counts as a wrong key
                   what="the second till's key to be picked up")


def rows(page):
    return page.locator("#invoice-rows tr")


async def invoice_numbers(page) -> list[str]:
    return await page.locator("#invoice-rows .invoice-link").all_inner_texts()


async def test_invoice_list_search_filters_pages_and_keyboard(page, utility, sandbox, base_url):
    till_2 = sale("T2-0001", "75.00", "12.00", days_ago=1, hour=19, mode=2, **TILL_2)
    await add_second_till(utility, sandbox, till_2)
    bulk = [sale(f"BULK-{n:03d}", "10.00", "1.60", days_ago=20, hour=8 + n // 60, minute=n % 60)
            for n in range(52)]
    await post_sales(utility, [*TODAYS, *EARLIER, till_2, *bulk])
    everything = 3 + 2 + 1 + 52

    await sign_in(page, base_url, "#invoices")
    await expect(page.locator("#view-invoices")).to_be_visible()
    filters = page.get_by_role("search", name="Find invoices")
    await expect(rows(page)).to_have_count(50)
    numbers = await invoice_numbers(page)
    assert numbers[:4] == ["INV-1003", "INV-1002", "INV-1001", "T2-0001"], "newest first"
    first = rows(page).first
    await expect(first.locator("td").nth(4)).to_have_text("2,900.58")   # total
    await expect(first.locator("td").nth(6)).to_have_text("Synced")

    # Pages: Next, then Previous, with the `next` cursor (no totals, no offsets).
    await page.get_by_role("button", name="Next").click()
    await expect(rows(page)).to_have_count(everything - 50)
    await expect(page.locator("#inv-page")).to_have_text("Page 2")
    await expect(page.get_by_role("button", name="Next")).to_be_disabled()
    await page.get_by_role("button", name="Previous").click()
    await expect(rows(page)).to_have_count(50)
    assert await invoice_numbers(page) == numbers

    # Search by invoice number (the first characters are enough); the address keeps it.
    search = filters.get_by_label("Invoice number")
    await search.fill("INV-10")
    await search.press("Enter")
    await expect(rows(page)).to_have_count(3)
    assert "q=INV-10" in page.url
    await settled(page)
    await page.reload()
    await expect(filters.get_by_label("Invoice number")).to_have_value("INV-10")
    await expect(rows(page)).to_have_count(3)
    assert sorted(await invoice_numbers(page)) == ["INV-1001", "INV-1002", "INV-1003"]

    # Filters: payment mode, POS, dates, state; each in the address too.
    await page.get_by_role("button", name="Clear").click()
    await expect(rows(page)).to_have_count(50)
    await filters.get_by_label("Payment", exact=True).select_option(label="Card")
    await expect(rows(page)).to_have_count(3)
    assert await invoice_numbers(page) == ["INV-1002", "T2-0001", "INV-0902"]
    await filters.get_by_label("POS", exact=True).select_option(TILL_2["pos_id"])
    await expect(rows(page)).to_have_count(1)
    assert "pos_id=K777001" in page.url and "payment_mode=2" in page.url
    await page.get_by_role("button", name="Clear").click()
    three_days_ago = sale("x", "1", "0", days_ago=3)["date_time"][:10]
    await filters.get_by_label("From date").fill(three_days_ago)
    await filters.get_by_label("To date").fill(three_days_ago)
    await expect(rows(page)).to_have_count(1)
    assert await invoice_numbers(page) == ["INV-0901"]
    await filters.get_by_label("State", exact=True).select_option("rejected")
    await expect(page.locator("#inv-empty")).to_contain_text("No invoices match these filters")
    await page.get_by_role("button", name="Clear the filters").click()
    await expect(rows(page)).to_have_count(50)

    # The screenshot: the last ten days, as a shopkeeper checks a week.
    await filters.get_by_label("From date").fill(sale("x", "1", "0", days_ago=10)["date_time"][:10])
    await expect(rows(page)).to_have_count(6)
    assert await low_contrast_texts(page) == []
    await page.evaluate("document.activeElement.blur()")
    await screenshot(page, "dashboard-invoices")

    # Keyboard: Tab reaches the invoice number link; Enter opens the invoice.
    await page.locator("#invoice-rows .invoice-link").first.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#view-invoice")).to_be_visible()
    await expect(page.locator("#invoice-title")).to_contain_text("INV-1003")
    assert re.search(r"#invoice/\d+$", page.url)
    # Back keeps the filters; a click anywhere on a row opens it too.
    await page.go_back()
    await expect(rows(page)).to_have_count(6)
    await rows(page).nth(1).locator("td").nth(1).click()
    await expect(page.locator("#invoice-title")).to_contain_text("INV-1002")


async def test_an_empty_list_says_what_will_appear(page, utility, base_url):
    await page.clock.install()
    await sign_in(page, base_url, "#invoices")
    await expect(page.locator("#inv-empty")).to_contain_text(
        "No invoices yet — they appear here as soon as the till sends one")
    await expect(page.locator("#inv-pager")).to_be_hidden()  # one page: nothing to turn
    await screenshot(page, "dashboard-invoices-empty")
    # ... and the first page keeps itself up to date: the till's sale shows up by itself.
    await post_sales(utility, [TODAYS[0]], settle=None)
    await page.clock.fast_forward(REFRESH_MS)
    await expect(rows(page)).to_have_count(1)
    await expect(page.locator("#inv-empty")).to_be_hidden()


async def open_invoice(page, number: str) -> None:
    """From the invoice list: search the number, open it."""
    filters = page.get_by_role("search", name="Find invoices")
    await filters.get_by_label("Invoice number").fill(number)
    await filters.get_by_label("Invoice number").press("Enter")
    await expect(rows(page)).to_have_count(1)
    await page.get_by_role("link", name=number, exact=True).click()
    await expect(page.locator("#invoice-title")).to_contain_text(number)


async def test_invoice_detail_shows_every_field_the_qr_code_and_the_attempts(
        page, utility, base_url):
    # The till's tax is 0.80 short of 16 %: accepted (never refuse a sale) with a warning.
    # (yesterday: a sale at 09:15 today is still in the future before 09:15, and warned about)
    body = sale("INV-1001", "1234567.50", "197530.00", days_ago=1, hour=9, minute=15)
    await post_sales(utility, [body])
    status = await utility.status_of("INV-1001")
    await sign_in(page, base_url, "#invoices")
    await open_invoice(page, "INV-1001")

    await expect(page.locator("#invoice-title .badge")).to_have_text("Synced")
    fields = page.locator("#invoice-fields")
    for name, value in (("Total", "1,432,097.50"), ("Amount", "1,234,567.50"),
                        ("Tax", "197,530.00"), ("Tax rate", "16 %"), ("Payment", "Cash"),
                        ("Date and time", body["date_time"]),
                        ("Transaction id", status["transaction_id"])):
        await expect(fields.locator(f"dt:text-is('{name}') + dd")).to_have_text(value)
    await expect(page.locator("#invoice-explain")).to_contain_text(status["transaction_id"])
    await expect(page.locator("#invoice-warnings li")).to_have_text(
        "tax_amount: tax_amount 197530.00 is not amount × tax_rate / 100 = 197530.80")
    qr_url = f"https://kpra.gov.pk/api/?pos_id={body['pos_id']}&invoice_no=INV-1001"
    await expect(page.locator("#invoice-qr-url")).to_have_text(qr_url)
    await wait_for(lambda: image_loaded(page, "#invoice-qr"), what="the QR code drawn")
    box = await page.locator("#invoice-qr").bounding_box()
    assert box and box["width"] >= 200 and box["height"] >= 200, "large enough to scan"
    assert "INV-1001" in (await page.get_attribute("#invoice-qr", "alt") or "")
    attempts = page.locator("#attempt-rows tr")
    await expect(attempts).to_have_count(1)
    await expect(attempts.first.locator("td").nth(1)).to_have_text("201")
    await expect(attempts.first.locator("td").nth(2)).to_have_text("Recorded by KPRA")
    await expect(page.get_by_role("button", name=re.compile("Retry"))).to_be_hidden()
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-invoice-detail")


async def test_a_rejected_invoice_is_retried_from_its_page_and_turns_synced(
        page, utility, sandbox, base_url):
    await post_sales(utility, TODAYS[:2])
    sandbox.faults.reject_next = 1  # KPRA refuses the next invoice's data (a 400)
    refused = sale("INV-2001", "500", "80", hour=12)
    await post_sales(utility, [refused], settle="rejected")
    await sign_in(page, base_url)

    # The overview says what is wrong and what to do, and offers the retry.
    await expect(page.locator("#ov-rejected")).to_have_text("1 invoice rejected")
    problem = page.locator("#ov-problems .problem")
    await expect(problem).to_have_count(1)
    await expect(problem).to_contain_text("KPRA refused this invoice")
    await expect(problem).to_contain_text("What to do:")
    await expect(page.get_by_role("button", name="Retry all failed")).to_be_visible()
    await expect(page.locator("#ov-no-problems")).to_be_hidden()
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-overview-problems")

    # The fault is gone now (reject_next was used up): retry it from its own page.
    await page.get_by_role("link", name="See the rejected invoices").click()
    await expect(rows(page)).to_have_count(1)
    await page.get_by_role("link", name="INV-2001", exact=True).click()
    await expect(page.locator("#invoice-title .badge")).to_have_text("Rejected")
    await expect(page.locator("#invoice-explain")).to_contain_text("refused")
    await expect(page.locator("#invoice-fields dt:text-is('Last error') + dd")).to_contain_text(
        "tax_amount")
    await expect(page.locator("#attempt-rows tr")).to_have_count(1)
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-invoice-rejected")
    retry = page.get_by_role("button", name="Retry sending this invoice")
    await retry.click()
    await expect(page.get_by_role("status").filter(has_text="will be sent again")).to_be_visible()
    await expect(page.locator("#invoice-title .badge")).to_have_text("Synced", timeout=15_000)
    await expect(retry).to_be_hidden()
    outcomes = await page.locator("#attempt-rows tr td:nth-child(3)").all_inner_texts()
    assert outcomes == ["Refused by KPRA", "Retry asked on the dashboard", "Recorded by KPRA"], \
        outcomes
    assert await utility.state_of("INV-2001") == "synced"
    assert sandbox.received_count(refused["pos_id"], "INV-2001") == 2


async def test_held_invoices_are_released_by_retry_all_failed(page, utility, sandbox, base_url):
    sandbox.faults.unauthorized_next = 1  # KPRA does not take the key once: the POS is held
    held = [sale("INV-3001", "100", "16", hour=8), sale("INV-3002", "200", "32", hour=9)]
    await post_sales(utility, held[:1], settle="held")
    await post_sales(utility, held[1:], settle="held")  # new sales of a held POS wait too
    await sign_in(page, base_url)
    await expect(page.locator("#ov-held")).to_have_text("2 invoices held")
    held_box = page.locator("#ov-problems .problem").first
    await expect(held_box).to_contain_text("POS K123456 is held")
    await expect(held_box).to_contain_text("setup")
    await page.get_by_role("button", name="Retry all failed").click()
    await expect(page.locator("#notice")).to_contain_text("POS K123456 may send again")
    await expect(page.locator("#ov-held")).to_have_text("None", timeout=15_000)
    await expect(page.locator("#ov-synced")).to_have_text("2 invoices", timeout=15_000)
    assert [await utility.state_of(s["invoice_no"]) for s in held] == ["synced", "synced"]


def day_of(days_ago: int) -> str:
    return sale("x", "1", "0", days_ago=days_ago)["date_time"][:10]


async def show_report(page, view: str, **settings: str) -> None:
    """Open #reports or #reconciliation and set its form as the accountant does."""
    await page.get_by_role("link", name=view.capitalize(), exact=True).click()
    form = page.locator(f"#view-{view} form")
    for label, value in settings.items():
        field = form.get_by_label(label, exact=True)
        if await field.evaluate("f => f.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.fill(value)
    await form.get_by_role("button", name="Show").click()


async def test_sales_report_with_subtotals_grand_total_and_print(page, utility, base_url):
    sales = TODAYS + EARLIER
    await post_sales(utility, sales)
    await sign_in(page, base_url)
    await show_report(page, "reports", **{"From date": day_of(10), "To date": day_of(0)})
    await expect(page.locator("#reports-range")).to_contain_text("From")
    assert f"from={day_of(10)}" in page.url and f"to={day_of(0)}" in page.url

    report_rows = page.locator("#report-rows tr")
    await expect(report_rows).to_have_count(4)  # today cash, today card, 3 days ago, 8 days ago
    grand = page.locator("#report-foot tr")
    await expect(grand.locator("th")).to_have_text("Grand total")
    await expect(grand.locator("td")).to_have_text([
        "5", money_text(total_of(sales, "amount")), money_text(total_of(sales, "tax_amount")),
        money_text(total_of(sales))])
    cash = [s for s in sales if s["payment_mode"] == 1]
    card = [s for s in sales if s["payment_mode"] == 2]
    by_mode = page.locator("#by-mode-rows tr")
    await expect(by_mode).to_have_count(3)
    await expect(by_mode.nth(0).locator("td").last).to_have_text(money_text(total_of(cash)))
    await expect(by_mode.nth(1).locator("td").last).to_have_text(money_text(total_of(card)))
    await expect(by_mode.nth(2).locator("td").last).to_have_text(money_text(total_of(sales)))
    await expect(page.locator("#by-pos-rows tr").first.locator("th")).to_have_text("POS K123456")
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-reports")

    # Per month: one line for this month (the earliest sale is 8 days old: maybe last month).
    await page.locator("#report-filters").get_by_label("Totals per").select_option("month")
    await expect(page.locator("#report-period-head")).to_have_text("Month")
    await expect(grand.locator("td").last).to_have_text(money_text(total_of(sales)))
    await page.locator("#report-filters").get_by_label("Totals per").select_option("day")
    await expect(report_rows).to_have_count(4)

    # Printing: the report's title and tables only; no navigation, forms or buttons.
    await page.emulate_media(media="print")
    await expect(page.locator(".topbar")).to_be_hidden()
    await expect(page.locator("#report-filters")).to_be_hidden()
    buttons = page.locator("button, .exports a")
    assert await buttons.count() > 10
    for button in await buttons.all():
        assert not await button.is_visible(), await button.inner_text()
    await expect(page.locator("#print-title")).to_contain_text("printed")
    await expect(page.locator("#reports-title")).to_have_text("Sales report")
    await expect(page.locator("#reports-range")).to_be_visible()  # which dates it covers
    await expect(page.locator("#report-table")).to_be_visible()
    await screenshot(page, "dashboard-print")
    await page.emulate_media(media="screen")
    await expect(page.locator(".topbar")).to_be_visible()


async def test_reconciliation_shows_what_kpra_has_not_confirmed(page, utility, sandbox, base_url):
    confirmed = TODAYS + EARLIER
    await post_sales(utility, confirmed)
    sandbox.faults.reject_next = 1
    refused = sale("INV-2001", "500", "80", days_ago=3, hour=12)
    await post_sales(utility, [refused], settle="rejected")
    everything = [*confirmed, refused]
    await sign_in(page, base_url)
    await show_report(page, "reconciliation", **{"From date": day_of(10), "To date": day_of(0)})

    await expect(page.locator("#recon-message")).to_contain_text("1 invoice(s)")
    await expect(page.locator("#rc-local-total")).to_have_text(money_text(total_of(everything)))
    await expect(page.locator("#rc-confirmed-total")).to_have_text(money_text(total_of(confirmed)))
    await expect(page.locator("#rc-unconfirmed-total")).to_have_text(money_text("580"))
    await expect(page.locator("#rc-unconfirmed-sub")).to_contain_text("1 invoice")
    days = page.locator("#recon-rows tr")
    await expect(days).to_have_count(3)
    three_days_ago = days.filter(has_text=day_of(3))
    await expect(three_days_ago.locator("td")).to_have_text([
        day_of(3), "2", money_text(Decimal("348") + Decimal("580")), "1", "348.00", "1",
        "580.00"])
    await expect(page.locator("#recon-foot td")).to_have_text([
        "6", money_text(total_of(everything)), "5", money_text(total_of(confirmed)), "1",
        "580.00"])
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-reconciliation")

    # The link lists exactly the invoices not confirmed, for the same dates.
    await page.get_by_role("link", name="See the 1 invoice not confirmed").click()
    await expect(page.locator("#view-invoices")).to_be_visible()
    await expect(rows(page)).to_have_count(1)
    assert await invoice_numbers(page) == ["INV-2001"]
    filters = page.get_by_role("search", name="Find invoices")
    await expect(filters.get_by_label("State", exact=True)).to_have_value("unconfirmed")
    await expect(filters.get_by_label("From date")).to_have_value(day_of(10))


INVOICE_COLUMNS = ["POS ID", "Invoice no", "Date and time", "Payment mode", "Amount", "Tax rate",
                   "Tax", "Total", "State", "Attempts", "Last error", "Transaction id",
                   "Received at", "Synced at"]


async def download(page, link_name: str) -> tuple[str, Path]:
    """Click a download link in the visible view; (suggested file name, saved path)."""
    async with page.expect_download() as info:
        await page.locator(".view:not([hidden])").get_by_role(
            "link", name=link_name, exact=True).click()
    file = await info.value
    assert await file.failure() is None
    return file.suggested_filename, Path(await file.path())


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM, so Excel opens it right"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def read_xlsx(path: Path) -> list[list[object]]:
    # (Playwright saves downloads without their extension, which openpyxl insists on.)
    book = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True)
    try:
        return [list(row) for row in book.active.iter_rows(values_only=True)]
    finally:
        book.close()


def exact(value: object) -> Decimal:
    """A money cell as Decimal: CSV text, or an XLSX number (2 decimals, exact below 10^13)."""
    if isinstance(value, float):
        return Decimal(repr(value)).quantize(Decimal("0.01"))
    return Decimal(str(value))


async def test_csv_and_xlsx_downloads_hold_the_right_rows_and_totals(
        page, utility, sandbox, base_url):
    confirmed = TODAYS + EARLIER
    await post_sales(utility, confirmed)
    sandbox.faults.reject_next = 1
    refused = sale("INV-2001", "500", "80", days_ago=3, hour=12, mode=2)
    await post_sales(utility, [refused], settle="rejected")
    everything = [*confirmed, refused]
    await sign_in(page, base_url, "#invoices")

    # The invoice list, filtered to card payments: the same rows in both files.
    filters = page.get_by_role("search", name="Find invoices")
    await filters.get_by_label("Payment", exact=True).select_option(label="Card")
    await expect(rows(page)).to_have_count(3)
    card = sorted((s for s in everything if s["payment_mode"] == 2),
                  key=lambda s: s["date_time"], reverse=True)
    name, path = await download(page, "Export CSV")
    assert name.startswith("invoices_") and name.endswith(".csv")
    table = read_csv(path)
    assert table[0] == INVOICE_COLUMNS
    assert [r[1] for r in table[1:]] == [s["invoice_no"] for s in card]
    for row, posted in zip(table[1:], card, strict=True):
        assert row[0] == posted["pos_id"] and row[3] == "Card"
        assert exact(row[4]) == Decimal(posted["amount"])
        assert exact(row[6]) == Decimal(posted["tax_amount"])
        assert exact(row[7]) == Decimal(posted["total_amount"])
        assert row[8] == ("rejected" if posted is refused else "synced")
    name, path = await download(page, "Export XLSX")
    assert name.endswith(".xlsx")
    sheet = read_xlsx(path)
    assert sheet[0] == INVOICE_COLUMNS
    assert [r[1] for r in sheet[1:]] == [s["invoice_no"] for s in card]
    assert sum(exact(r[7]) for r in sheet[1:]) == total_of(card)

    # The sales report of the last ten days: its rows, then a "Total" row.
    await show_report(page, "reports", **{"From date": day_of(10), "To date": day_of(0)})
    await expect(page.locator("#report-foot td").first).to_have_text("6")
    name, path = await download(page, "Export CSV")
    assert name == f"sales_by_day_{day_of(10)}_to_{day_of(0)}.csv"
    for table in (read_csv(path), read_xlsx((await download(page, "Export XLSX"))[1])):
        header, *lines, total = table
        assert header[:4] == ["Period", "POS ID", "Payment mode", "Invoices"]
        assert total[0] == "Total" and int(total[3]) == len(everything)
        assert exact(total[4]) == total_of(everything, "amount")
        assert exact(total[5]) == total_of(everything, "tax_amount")
        assert exact(total[6]) == total_of(everything)
        assert sum(exact(line[6]) for line in lines) == total_of(everything)
        assert len(lines) == len(await page.locator("#report-rows tr").all())

    # The reconciliation: per day, then the totals; what KPRA has not confirmed is the refused
    # invoice.
    await show_report(page, "reconciliation", **{"From date": day_of(10), "To date": day_of(0)})
    await expect(page.locator("#recon-foot td").first).to_have_text("6")
    for fmt in ("CSV", "XLSX"):
        name, path = await download(page, f"Export {fmt}")
        assert name == f"reconciliation_{day_of(10)}_to_{day_of(0)}.{fmt.lower()}"
        header, *days, total = read_csv(path) if fmt == "CSV" else read_xlsx(path)
        assert header[0] == "Day" and [d[0] for d in days] == [day_of(8), day_of(3), day_of(0)]
        assert total[0] == "Total"
        assert [int(total[1]), int(total[3]), int(total[5])] == [6, 5, 1]
        assert exact(total[2]) == total_of(everything)
        assert exact(total[4]) == total_of(confirmed)
        assert exact(total[6]) == Decimal("580")


# A page on another web site (here: another port of 127.0.0.1, which browsers count as the same
# *site*, so the SameSite=Strict session cookie does go along) that tries to act for the
# signed-in shopkeeper: release held invoices and pause sending, by fetch() and by a form.
EVIL_PAGE = """<!doctype html><html><head><title>Free prizes</title></head><body>
<form id="form" method="POST" enctype="text/plain" action="{target}/api/dashboard/sending">
<input name='{{"paused":true,"x":"' value='"}}'></form>
<script>
async function attack(target) {{
  const out = {{}};
  for (const [path, body] of [["/api/dashboard/retry", '{{"states":["rejected","held"]}}'],
                              ["/api/dashboard/sending", '{{"paused":true}}']]) {{
    try {{
      const r = await fetch(target + path, {{method: "POST", credentials: "include",
        mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}});
      out[path] = r.type;
    }} catch (e) {{ out[path] = String(e); }}
  }}
  return out;
}}
</script></body></html>"""


@pytest_asyncio.fixture(loop_scope="session")
async def other_site(base_url, before_servers_stop) -> AsyncIterator[str]:
    """A second tiny web server on 127.0.0.1 (another port): the attacker's page."""
    async def evil(request: web.Request) -> web.Response:
        return web.Response(text=EVIL_PAGE.format(target=base_url), content_type="text/html")

    async def no_icon(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", evil)
    app.router.add_get("/favicon.ico", no_icon)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    for close_page in reversed(before_servers_stop):  # the page first, as `utility` does
        await close_page()
    await runner.cleanup()


async def test_a_cross_site_post_to_a_dashboard_action_is_refused(
        page, page_problems, utility, sandbox, base_url, other_site):
    page_problems.allow(r"403")  # the refusals, as Chromium logs them
    # ... and Chromium withholds the (JSON) answers from the no-cors fetches (opaque response
    # blocking), which it reports as aborted requests once the server's 403 has arrived.
    page_problems.allow(r"POST .*/api/dashboard/(retry|sending): net::ERR_ABORTED$")
    sandbox.faults.unauthorized_next = 1
    await post_sales(utility, [sale("INV-3001", "100", "16")], settle="held")
    await sign_in(page, base_url)  # the shopkeeper is signed in: the cookie is there
    await expect(page.locator("#ov-held")).to_have_text("1 invoice held")

    await settled(page)
    await page.goto(other_site + "/")
    refused = []
    page.on("response", lambda r: refused.append((r.request.url.removeprefix(base_url),
                                                  r.status)) if r.url.startswith(base_url)
            else None)
    results = await page.evaluate("target => attack(target)", base_url)
    assert set(results) == {"/api/dashboard/retry", "/api/dashboard/sending"}, results
    async with page.expect_response(lambda r: r.url.startswith(base_url)) as answer:
        await page.locator("#form").evaluate("form => form.submit()")
    form_answer = await answer.value
    assert form_answer.status == 403
    sent = await form_answer.request.all_headers()
    assert "rims_session=" in sent.get("cookie", ""), "the session went along: refused anyway"
    assert sent.get("sec-fetch-site") == "same-site", sent
    assert "another site" in (await form_answer.json())["message"]
    await wait_for(lambda: len(refused) >= 3, what="the three answers")
    assert sorted(refused) == [("/api/dashboard/retry", 403), ("/api/dashboard/sending", 403),
                               ("/api/dashboard/sending", 403)], refused

    # Nothing changed: still held, sending still on.
    assert await utility.state_of("INV-3001") == "held"
    assert sandbox.received_count("K123456", "INV-3001") == 1
    await page.goto(base_url + "/dashboard.html#overview")
    await expect(page.locator("#ov-held")).to_have_text("1 invoice held")
    await expect(page.locator("#sending-state")).to_have_text("Sending is on")


async def test_sending_is_paused_and_resumed_from_the_top_bar(page, utility, base_url):
    await page.clock.install()
    await sign_in(page, base_url)
    await expect(page.locator("#sending-state")).to_have_text("Sending is on")
    await page.get_by_role("button", name="Pause sending").click()
    await expect(page.locator("#notice")).to_contain_text("Sending paused")
    await expect(page.locator("#sending-state")).to_have_text("Sending is paused")
    await expect(page.locator("#ov-reach")).to_have_text("Paused")
    await post_sales(utility, [sale("INV-4001", "100", "16")], settle="queued")
    await page.clock.fast_forward(REFRESH_MS)
    await expect(page.locator("#ov-pending")).to_have_text("1 invoice")
    assert await utility.state_of("INV-4001") == "queued", "kept, not sent, while paused"
    await page.get_by_role("button", name="Resume sending").click()
    await expect(page.locator("#sending-state")).to_have_text("Sending is on")
    await wait_for(lambda: _state(utility, "INV-4001", "synced"), what="sent after resuming")


async def _state(utility, number: str, state: str) -> bool:
    return await utility.state_of(number) == state


async def test_error_answers_are_shown_and_an_ended_session_goes_back_to_sign_in(
        page, page_problems, utility, base_url):
    page_problems.allow(r"status of 400 .*/api/dashboard/invoices\?")  # the bad filter below
    page_problems.allow(r"status of 401 .*/api/dashboard/")            # after the sign-out
    page_problems.allow(r"/api/dashboard/.*: net::ERR_ABORTED$")  # left for the sign-in page
    await sign_in(page, base_url, "#invoices?from=2026-13-45")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("from")
    await expect(alert).to_contain_text("YYYY-MM-DD")
    await expect(page.locator("#inv-empty")).to_be_hidden()  # not "no invoices": it failed
    await page.get_by_role("link", name="Reports", exact=True).click()
    await expect(page.locator("#error")).to_be_empty()       # a new view starts clean

    # The session ends elsewhere (another tab signed out, or the utility restarted).
    await page.context.clear_cookies()
    await page.get_by_role("link", name="Invoices", exact=True).click()
    await page.wait_for_url("**/login.html")


async def test_money_is_shown_exactly_with_thousands_separators(page, base_url):
    await sign_in(page, base_url)
    cases = {"0": "0.00", "5": "5.00", "1234.5": "1,234.50", "-1234567.125": "-1,234,567.125",
             "999999999999.99": "999,999,999,999.99", "0.1": "0.10", "12345678901234567.89":
             "12,345,678,901,234,567.89", "": "—"}
    shown = await page.evaluate("cases => cases.map(c => window.RimsDashboard.money(c))",
                                list(cases))
    assert shown == list(cases.values())
    # Exact sums (the charts' text alternatives), where floats would say 0.30000000000000004.
    assert await page.evaluate("window.RimsDashboard.decimalSum(['0.1', '0.2'])") == "0.3"
    assert await page.evaluate(
        "window.RimsDashboard.decimalSum(['9007199254740993.01', '0.99', '-1'])") == \
        "9007199254740993.00"
    words = await page.evaluate("[30, 90, 7260, 200000].map(s => window.RimsDashboard.ageWords(s))")
    assert words == ["30 seconds", "1 minute", "2 hours 1 minute", "2 days"]


async def test_the_dashboard_works_from_the_keyboard(page, utility, base_url):
    await post_sales(utility, TODAYS)
    await sign_in(page, base_url)
    await expect(page.locator("#ov-count")).to_have_text("3")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to the content"
    for _ in range(6):  # on to the Invoices tab
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent") == "Invoices":
            break
    else:
        raise AssertionError("Tab never reached the Invoices tab")
    await page.keyboard.press("Enter")
    await expect(page.locator("#view-invoices")).to_be_visible()
    assert await page.evaluate("document.activeElement.id") == "invoices-title", \
        "the view's heading takes the focus, so a screen reader says where we are"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "f-q"
    await page.keyboard.type("INV-1002")
    await page.keyboard.press("Enter")
    await expect(rows(page)).to_have_count(1)
    link = page.get_by_role("link", name="INV-1002", exact=True)
    for _ in range(25):  # through the filters (a date takes 3 stops) and downloads
        await page.keyboard.press("Tab")
        if await link.evaluate("a => a === document.activeElement"):
            break
    else:
        raise AssertionError("Tab never reached the invoice's link")
    await page.keyboard.press("Enter")
    await expect(page.locator("#invoice-title")).to_contain_text("INV-1002")
