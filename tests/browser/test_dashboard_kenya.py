"""The dashboard in Kenya mode (docs/KENYA.md), in real Chromium against a real Core and SQLite:
the authority named, the kinds in the list (credit notes negative, items without money), a
signed sale's items, tax bands and receipt QR, what a document waits for, the per-band report,
and ProTax's customer PIN look-up. Screenshots: docs/screenshots/dashboard-kenya-*.png.

The rows are written into the database as Kenya's intake stores them
(tests/integration/test_dashboard_kenya_api.py), dated yesterday, with sending paused."""

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from app.sandbox.kpra import KpraSandbox
from tests.browser.conftest import screenshot
from tests.browser.helpers import (
    ICON_CANCELLED,
    NOBODY_SIGNED_IN,
    image_loaded,
    low_contrast_texts,
    settled,
    sign_in,
)
from tests.integration.conftest import Utility
from tests.integration.test_dashboard_kenya_api import (
    BRAKE,
    DAY,
    KEY,
    KRA_CHECKER,
    OIL,
    POS_ID,
    ROWS,
    SALE_2_LINES,
    fake_lookup,
    kenya_utility,
    sale_detail,
)


@pytest.fixture(autouse=True)
def _signing_in_is_expected(page_problems) -> None:
    page_problems.allow(NOBODY_SIGNED_IN)  # the sign-in page asks who is signed in first
    page_problems.allow(ICON_CANCELLED)


async def _running(tmp_path: Path, sandbox: KpraSandbox, before_servers_stop: list,
                   upstream: str, **more: object) -> AsyncIterator[Utility]:
    running = await kenya_utility(tmp_path, sandbox, upstream, **more)
    yield running
    try:
        for close_page in reversed(before_servers_stop):
            await close_page()
    finally:
        await running.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def kra(tmp_path: Path, sandbox: KpraSandbox,
              before_servers_stop: list) -> AsyncIterator[Utility]:
    async for running in _running(tmp_path, sandbox, before_servers_stop, "kra-agent"):
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def protax(tmp_path: Path, sandbox: KpraSandbox,
                 before_servers_stop: list) -> AsyncIterator[Utility]:
    async for running in _running(tmp_path, sandbox, before_servers_stop, "protax",
                                  key_mode="test", lookup=fake_lookup):
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def kra_usd(tmp_path: Path, sandbox: KpraSandbox,
                  before_servers_stop: list) -> AsyncIterator[Utility]:
    """The shop's day plus a sale in US dollars (1200 USD at 129.5: 155,400.00 KES)."""
    usd = ("INV-USD", "invoice", "queued", "12:10",
           sale_detail("INV-USD", SALE_2_LINES, currency="USD", exchange_rate="129.5"),
           None, None, None, None)
    async for running in _running(tmp_path, sandbox, before_servers_stop, "kra-agent",
                                  rows=[*ROWS, usd]):
        yield running


def _url(utility: Utility) -> str:
    assert utility.core is not None
    return utility.core.base_url


async def _open(page: Page, utility: Utility, hash_: str) -> None:
    await sign_in(page, _url(utility), hash_, pos_id=POS_ID, key=KEY)
    await settled(page)


async def test_list_shows_kinds_kes_and_credit_notes(page: Page, kra: Utility):
    await _open(page, kra, "#invoices")
    await expect(page.locator("#authority-badge")).to_have_text("KRA eTIMS via KRA Agent")
    rows = page.locator("#invoice-rows tr")
    await expect(rows).to_have_count(7)
    await expect(page.locator("#inv-total-head")).to_have_text("Total (KES)")
    credit = rows.filter(has_text="CN-1")
    await expect(credit.locator("td").nth(1)).to_have_text("Credit note")
    await expect(credit).to_contain_text("credits INV-1001")
    await expect(credit.locator("td.num").first).to_have_text("-3,500.00")
    item = rows.filter(has_text=OIL)
    await expect(item).to_contain_text("Item registration")
    await expect(item.locator("td.num").first).to_have_text("—")
    await expect(rows.filter(has=page.get_by_role("link", name="INV-1001"))).to_contain_text(
        "Mombasa Auto Spares Ltd (P051234567A)")
    await expect(page.locator("#f-payment")).to_be_hidden()
    await expect(page.get_by_role("link", name="Tax per band")).to_be_hidden()
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-kenya-list")

    await page.get_by_label("Kind").select_option("credit_note")
    await expect(rows).to_have_count(2)
    await expect(page).to_have_url(re.compile(r"#invoices\?kind=credit_note$"))
    await settled(page)


async def test_signed_sale_shows_items_bands_and_receipt_qr(page: Page, kra: Utility):
    await _open(page, kra, "#invoices")
    await page.locator("#invoice-rows").get_by_role("link", name="INV-1001").click()
    await expect(page.locator("#invoice-title")).to_contain_text("Sale INV-1001")
    await expect(page.locator("#invoice-explain")).to_contain_text(
        "Signed by KRA eTIMS (KRA invoice no KRACU0100000013/57)")
    lines = page.locator("#line-rows tr")
    await expect(lines).to_have_count(3)
    await expect(lines.first).to_contain_text(OIL)
    await expect(lines.first).to_contain_text("B · 16 %")
    await expect(lines.first.locator("td").last).to_have_text("7,000.00")
    bands = page.locator("#invoice-band-rows tr")
    await expect(bands.filter(has_text="Band B")).to_contain_text("965.52")
    await expect(page.locator("#invoice-band-foot")).to_contain_text("970.33")
    fields = page.locator("#invoice-fields")
    await expect(fields).to_contain_text("P051234567A")
    await expect(fields).to_contain_text("Mombasa Auto Spares Ltd")
    await expect(fields).to_contain_text("6843")
    await expect(fields).to_contain_text("7,525.00 KES")
    link = page.get_by_role("link", name="Open on KRA's invoice checker")
    await expect(link).to_have_attribute("href", KRA_CHECKER + "1001")
    await expect(page.locator("#invoice-qr-pending")).to_be_hidden()
    await page.wait_for_function(
        "() => { const i = document.getElementById('invoice-qr');"
        " return i.complete && i.naturalWidth > 0; }")
    assert await image_loaded(page, "#invoice-qr")
    await settled(page)
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-kenya-invoice")


async def test_credit_note_links_its_original(page: Page, kra: Utility):
    await _open(page, kra, "#invoices?kind=credit_note")
    await page.locator("#invoice-rows").get_by_role("link", name="CN-1").click()
    await expect(page.locator("#invoice-title")).to_contain_text("Credit note CN-1")
    fields = page.locator("#invoice-fields")
    await expect(fields).to_contain_text("Goods returned")
    await expect(fields).to_contain_text("-3,500.00 KES")
    await expect(page.locator("#line-rows tr").first.locator("td").last).to_have_text(
        "-3,500.00")
    await page.wait_for_function(
        "() => { const i = document.getElementById('invoice-qr');"
        " return i.complete && i.naturalWidth > 0; }")
    await settled(page)
    await screenshot(page, "dashboard-kenya-credit-note")
    await fields.get_by_role("link", name="INV-1001").click()
    await expect(page.locator("#invoice-title")).to_contain_text("Sale INV-1001")
    await settled(page)


async def test_waiting_sale_says_what_it_needs_and_has_no_qr_yet(page: Page, kra: Utility):
    await _open(page, kra, "#invoices?q=INV-1002")
    await page.locator("#invoice-rows").get_by_role("link", name="INV-1002").click()
    waiting = page.locator("#invoice-waiting")
    await expect(waiting).to_contain_text(f"Waiting for item {BRAKE} to be registered")
    await expect(page.locator("#invoice-qr-pending")).to_have_text(
        "The receipt QR appears once KRA eTIMS has signed the invoice.")
    await expect(page.locator("#invoice-qr")).to_be_hidden()
    await waiting.get_by_role("link").click()
    await expect(page.locator("#invoice-title")).to_contain_text(f"Item registration {BRAKE}")
    await expect(page.locator("#invoice-document")).to_contain_text("Brake fluid DOT4 500ml")
    await settled(page)


async def test_tax_band_report(page: Page, kra: Utility):
    await _open(page, kra, "#reports")
    await page.get_by_role("link", name="Tax per band").click()
    await expect(page.locator("#bands-view-title")).to_be_focused()
    await settled(page)
    await page.evaluate("h => { window.location.hash = h; }", f"#tax-bands?from={DAY}&to={DAY}")
    rows = page.locator("#bands-rows tr")
    await expect(rows).to_have_count(5)
    await expect(rows.filter(has_text="Band B")).to_contain_text("3,500.00")
    await expect(rows.filter(has_text="Band B")).to_contain_text("482.76")
    await expect(page.locator("#bands-foot")).to_contain_text("4,025.00")
    await expect(page.locator("#bd-sales-total")).to_have_text("8,725.00 KES")
    await expect(page.locator("#bd-credit-total")).to_have_text("-4,700.00 KES")
    await expect(page.locator("#bd-net-total")).to_have_text("4,025.00 KES")
    await expect(page.locator("#bands-export-csv")).to_have_attribute(
        "href", f"/api/dashboard/export/tax-bands.csv?from={DAY}&to={DAY}")
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-kenya-report")


async def test_customer_pin_lookup_with_protax(page: Page, protax: Utility):
    await _open(page, protax, "#overview")
    await expect(page.locator("#authority-badge")).to_have_text("KRA eTIMS via ProTax")
    await expect(page.locator("#authority-key")).to_contain_text("TEST key")
    box = page.locator("#pin-lookup")
    await expect(box).to_be_visible()
    await page.get_by_label("Customer's KRA PIN").fill("P05123")
    await page.get_by_role("button", name="Look up").click()
    await expect(page.locator("#pin-result")).to_have_text(
        "A KRA PIN is a letter, 9 digits and a letter, like P051234567A.")
    await page.get_by_label("Customer's KRA PIN").fill("p051234567a")
    await page.get_by_role("button", name="Look up").click()
    await expect(page.locator("#pin-result")).to_have_text(
        "Mombasa Auto Spares Ltd — P051234567A is registered with KRA.")
    await settled(page)
    assert await low_contrast_texts(page) == []
    await screenshot(page, "dashboard-kenya-overview")
    await page.get_by_label("Customer's KRA PIN").fill("A000000000Z")
    await page.get_by_role("button", name="Look up").click()
    await expect(page.locator("#pin-result")).to_contain_text("Not found")
    await settled(page)


async def test_kra_agent_hides_the_pin_lookup_and_says_why(page: Page, kra: Utility):
    await _open(page, kra, "#overview")
    await expect(page.locator("#pin-lookup")).to_be_hidden()
    why = page.locator("#pin-absent-label")
    await expect(why).to_be_visible()
    await expect(why).to_have_attribute("title", "The KRA Agent API has no customer PIN "
                                                 "look-up (its document offers none); check a "
                                                 "buyer's PIN on KRA's iTax PIN checker instead.")


async def test_a_foreign_currency_sale_shows_its_own_total_and_the_kes_one(page: Page,
                                                                          kra_usd: Utility):
    await _open(page, kra_usd, "#invoices")
    row = page.locator("#invoice-rows tr", has_text="INV-USD")
    await expect(row).to_contain_text("155,400.00")  # the Total (KES) column
    await expect(row).to_contain_text("sold in USD")
    await row.get_by_role("link", name="INV-USD").click()
    fields = page.locator("#invoice-fields")
    await expect(fields).to_contain_text("1,200.00 USD (155,400.00 KES at 129.5)")
    await expect(page.locator("#invoice-band-foot")).to_contain_text("Total (USD)")
    await settled(page)
