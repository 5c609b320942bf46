"""Helpers for the dashboard's browser tests: sign in as a shopkeeper does, post sales through the
POS API as a till does, and wait for the forwarder to settle them."""

import datetime as dt
from decimal import Decimal

from playwright.async_api import Page, expect

from tests.conftest import wait_for
from tests.integration.conftest import KEY, POS_ID, Utility, invoice

# The page asks GET /api/session before it knows anyone; Chromium logs that 401 as an error.
NOBODY_SIGNED_IN = r"401 .*/api/session\)$"
# Leaving a page right after it opened cancels its icon's request: the browser's doing, harmless.
ICON_CANCELLED = r"/web/favicon\.svg: net::ERR_ABORTED$"

TODAY = dt.date.today()


def at(days_ago: int = 0, hour: int = 10, minute: int = 0) -> str:
    """A wire time `days_ago` days before today (the shop PC's local date)."""
    day = TODAY - dt.timedelta(days=days_ago)
    return f"{day.isoformat()} {hour:02d}:{minute:02d}:00"


def sale(number: str, amount: str, tax: str, *, days_ago: int = 0, hour: int = 10,
         minute: int = 0, mode: int = 1, rate: str = "16", **changes: object) -> dict:
    """One POS API body: amount + tax = total, exact decimal text."""
    total = Decimal(amount) + Decimal(tax)
    return invoice(number, amount=amount, tax_rate=rate, tax_amount=tax, total_amount=str(total),
                   date_time=at(days_ago, hour, minute), payment_mode=mode, **changes)


async def post_sales(utility: Utility, sales: list[dict], *, settle: str | None = "synced"
                     ) -> None:
    """Post each sale through POST /api/invoice (201), then wait until each reached `settle`."""
    for body in sales:
        status, answer, _ = await utility.post(body)
        assert status == 201, answer
    if settle is None:
        return
    for body in sales:
        number, pos_id = body["invoice_no"], body["pos_id"]
        await wait_for(lambda n=number, p=pos_id: _in_state(utility, n, p, settle),
                       what=f"{number} {settle}")


async def _in_state(utility: Utility, number: str, pos_id: str, state: str) -> bool:
    return await utility.state_of(number, pos_id) == state


async def sign_in(page: Page, base_url: str, hash_: str = "", *, pos_id: str = POS_ID,
                  key: str = KEY) -> None:
    """Through the sign-in form, then (optionally) straight to a view: `hash_` like "#invoices"."""
    await page.goto(base_url + "/login.html")
    await page.get_by_label("POS ID", exact=True).fill(pos_id)
    await page.get_by_label("Key", exact=True).fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/dashboard.html*")
    await expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as POS {pos_id}")
    if hash_:
        await page.evaluate("hash => { window.location.hash = hash; }", hash_)


def money_text(value: Decimal | str) -> str:
    """How the dashboard shows money: thousands separators, at least two decimals."""
    number = Decimal(value)
    text = f"{number:,f}"
    whole, _, frac = text.partition(".")
    return f"{whole}.{(frac + '00')[:max(2, len(frac))]}"


async def settled(page: Page) -> None:
    """Wait until the dashboard has nothing loading (its refreshes run every 10 s), so that
    leaving or reloading the page now cancels no request (which the `page` fixture reports)."""
    await page.wait_for_function("() => window.RimsDashboard && window.RimsDashboard.idle()")


async def image_loaded(page: Page, selector: str) -> bool:
    """The <img> finished loading and has pixels (a broken image has naturalWidth 0)."""
    return await page.eval_on_selector(
        selector, "img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0")


# Contrast (WCAG 2.x): every visible text against the background it sits on, at least 4.5:1.
CONTRAST_SCRIPT = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(',').map((x) => parseFloat(x));
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (node) => {
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      const bg = parse(getComputedStyle(n).backgroundColor);
      if (bg && bg.a > 0.5) return bg;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const node = walker.currentNode.parentElement;
    if (!text || !node) continue;
    const box = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    if (!box.width || !box.height || style.visibility === 'hidden' || node.closest('[hidden]')
        || node.closest('.visually-hidden') || node.closest('option')) continue;
    if (parseFloat(style.opacity) < 1 || node.closest('button:disabled')) continue;
    const fg = parse(style.color);
    const bg = background(node);
    const hi = Math.max(lum(fg), lum(bg)), lo = Math.min(lum(fg), lum(bg));
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) bad.push(`${ratio.toFixed(2)}:1 "${text.slice(0, 40)}" (${style.color} on ` +
                              `rgb(${bg.r}, ${bg.g}, ${bg.b}))`);
  }
  return bad;
}
"""


async def low_contrast_texts(page: Page) -> list[str]:
    return await page.evaluate(CONTRAST_SCRIPT)
