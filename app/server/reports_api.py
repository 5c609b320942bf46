"""The dashboard's reports: sales by period, POS and payment mode; the reconciliation (what was
received here against what the authority confirmed); the overview's two charts as SVG.
The exports (exports_api.py) reuse the same builders, so a download and the page agree."""

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

from aiohttp import web

from app.domain.money import plain
from app.domain.states import State
from app.server import charts, dashboard_kenya
from app.server.dashboard_api import CHART_DAYS, totals_data
from app.server.dashboard_query import BadQuery, invoice_filter
from app.server.invoice_api import DEPS
from app.server.responses import error, success
from app.store.listing import InvoiceFilter
from app.store.reports import SalesRow, Totals

PERIOD_NAMES = ("day", "month")
MEASURES = {"sales": "Sales", "tax": "Tax"}


@dataclass(frozen=True)
class SalesReport:
    period: str
    f: InvoiceFilter
    rows: list[SalesRow]
    upstream: str = "kpra"  # whose payment modes (dashboard_kenya.payment_modes)

    def mode_name(self, mode: int) -> str:
        return dashboard_kenya.payment_mode_name(mode, self.upstream)

    def by(self, key: str) -> dict[object, Totals]:
        out: dict[object, Totals] = {}
        for row in self.rows:
            k = getattr(row, key)
            out[k] = out.get(k, Totals()) + row.totals
        return dict(sorted(out.items()))

    @property
    def totals(self) -> Totals:
        return sum((row.totals for row in self.rows), Totals())


async def sales_report(request: web.Request) -> SalesReport:
    """Raises BadQuery."""
    errors: dict[str, str] = {}
    period = request.query.get("period", "day").strip().lower() or "day"
    if period not in PERIOD_NAMES:
        errors["period"] = "must be day or month"
        period = "day"
    today = dt.date.today()
    start = today.replace(day=1) if period == "day" else today.replace(month=1, day=1)
    upstream = request.app[DEPS].upstream
    f = invoice_filter(request.query, errors, default_from=start, default_to=today,
                       payment_modes=dashboard_kenya.payment_modes(upstream))
    if errors:
        raise BadQuery(errors)
    rows = await request.app[DEPS].store.sales(f, period)
    return SalesReport(period, f, rows, upstream)


def sales_data(report: SalesReport) -> dict[str, object]:
    return {
        "period": report.period, "from": report.f.date_from, "to": report.f.date_to,
        "rows": [{"period": r.period, "pos_id": r.pos_id, "payment_mode": r.payment_mode,
                  "payment_mode_name": report.mode_name(r.payment_mode)} | totals_data(r.totals)
                 for r in report.rows],
        "by_payment_mode": [{"payment_mode": mode, "payment_mode_name": report.mode_name(mode)}
                            | totals_data(t) for mode, t in report.by("payment_mode").items()],
        "by_pos": [{"pos_id": pos_id} | totals_data(t) for pos_id, t in report.by("pos_id").items()],
        "totals": totals_data(report.totals),
    }


async def sales(request: web.Request) -> web.Response:
    """GET /api/dashboard/reports/sales?period&from&to&pos_id&payment_mode"""
    try:
        report = await sales_report(request)
    except BadQuery as bad:
        return error(400, f"The report's settings are not valid: {bad}", bad.errors)
    data = sales_data(report)
    total = report.totals
    return success(200, f"{total.count} invoice(s) from {report.f.date_from} to "
                        f"{report.f.date_to}.", data)


@dataclass(frozen=True)
class Reconciliation:
    f: InvoiceFilter
    grid: dict[tuple[str, State], Totals]

    def where(self, keep: tuple[State, ...]) -> Totals:
        return sum((t for (_, s), t in self.grid.items() if s in keep), Totals())

    def day_totals(self) -> list[tuple[str, Totals, Totals, Totals]]:
        """Per day: (day, received here, confirmed by the authority, not yet confirmed)."""
        out = []
        for day in sorted({d for d, _ in self.grid}):
            local = sum((t for (d, _), t in self.grid.items() if d == day), Totals())
            confirmed = self.grid.get((day, State.SYNCED), Totals())
            out.append((day, local, confirmed, local - confirmed))
        return out

    def days(self) -> list[dict[str, object]]:
        return [{"day": day, "local_count": local.count, "local_total": plain(local.total),
                 "confirmed_count": confirmed.count, "confirmed_total": plain(confirmed.total),
                 "unconfirmed_count": unconfirmed.count,
                 "unconfirmed_total": plain(unconfirmed.total)}
                for day, local, confirmed, unconfirmed in self.day_totals()]


async def reconciliation_report(request: web.Request) -> Reconciliation:
    """Raises BadQuery. Only the date range applies (a reconciliation covers every POS)."""
    errors: dict[str, str] = {}
    today = dt.date.today()
    f = invoice_filter({k: v for k, v in request.query.items() if k in ("from", "to")}, errors,
                       default_from=today.replace(day=1), default_to=today)
    if errors:
        raise BadQuery(errors)
    return Reconciliation(f, await request.app[DEPS].store.per_day_and_state(f))


async def reconciliation(request: web.Request) -> web.Response:
    """GET /api/dashboard/reports/reconciliation?from&to"""
    try:
        report = await reconciliation_report(request)
    except BadQuery as bad:
        return error(400, f"The report's settings are not valid: {bad}", bad.errors)
    local = report.where(tuple(State))
    confirmed = report.where((State.SYNCED,))
    unconfirmed = local - confirmed
    by_state = [{"state": s.value} | totals_data(report.where((s,))) for s in State]
    if unconfirmed.count:
        message = (f"{unconfirmed.count} invoice(s) totalling {plain(unconfirmed.total)} are "
                   "not yet confirmed by the tax authority.")
    else:
        message = "Every invoice in this period is confirmed by the tax authority."
    return success(200, message, {
        "from": report.f.date_from, "to": report.f.date_to,
        "local": totals_data(local), "confirmed": totals_data(confirmed),
        "unconfirmed": totals_data(unconfirmed), "difference": totals_data(unconfirmed),
        "by_state": by_state, "days": report.days(),
    })


def _measure(request: web.Request) -> str | None:
    measure = request.query.get("measure", "sales").strip().lower() or "sales"
    return measure if measure in MEASURES else None


def _svg(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="image/svg+xml", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


def _value(totals: Totals, measure: str) -> Decimal:
    return totals.tax if measure == "tax" else totals.total


async def daily_chart(request: web.Request) -> web.Response:
    """GET /api/dashboard/charts/daily.svg?measure=sales|tax: the last 30 days."""
    measure = _measure(request)
    if measure is None:
        return error(400, "Choose what the chart shows.", {"measure": "must be sales or tax"})
    today = dt.date.today()
    first = today - dt.timedelta(days=CHART_DAYS - 1)
    f = InvoiceFilter(date_from=first.isoformat(), date_to=today.isoformat())
    per_day = await request.app[DEPS].store.per_period(f, "day")
    days = [first + dt.timedelta(days=n) for n in range(CHART_DAYS)]
    return _svg(charts.bar_chart(
        f"{MEASURES[measure]} per day, last {CHART_DAYS} days",
        [d.strftime("%d %b") for d in days],
        [_value(per_day.get(d.isoformat(), Totals()), measure) for d in days],
        value_name=MEASURES[measure], label_every=5))


async def hourly_chart(request: web.Request) -> web.Response:
    """GET /api/dashboard/charts/hourly.svg?measure=sales|tax: today, hour by hour."""
    measure = _measure(request)
    if measure is None:
        return error(400, "Choose what the chart shows.", {"measure": "must be sales or tax"})
    today = dt.date.today().isoformat()
    f = InvoiceFilter(date_from=today, date_to=today)
    per_hour = await request.app[DEPS].store.per_period(f, "hour")
    return _svg(charts.bar_chart(
        f"{MEASURES[measure]} per hour, today",
        [f"{h:02d}" for h in range(24)],
        [_value(per_hour.get(f"{today} {h:02d}", Totals()), measure) for h in range(24)],
        value_name=MEASURES[measure], label_every=1))  # "00".."23" all fit


@dataclass(frozen=True)
class BandReport:
    f: InvoiceFilter
    bands: dict[str, dict[str, object]]
    sales: Totals
    credit_notes: Totals

    def rows(self) -> list[dict[str, object]]:
        return [{"band": band, "rate": b["rate"], "count": b["count"],
                 "taxable": plain(b["taxable"]), "tax": plain(b["tax"])}
                for band, b in self.bands.items()]

    @property
    def taxable(self) -> Decimal:
        return sum((b["taxable"] for b in self.bands.values()), Decimal(0))

    @property
    def tax(self) -> Decimal:
        return sum((b["tax"] for b in self.bands.values()), Decimal(0))


async def band_report(request: web.Request) -> BandReport:
    """Raises BadQuery. Kenya's per-band taxable and tax totals over a period, from each sale's
    and credit note's detail bands (credit notes subtract). Default: this month so far."""
    deps = request.app[DEPS]
    errors: dict[str, str] = {}
    today = dt.date.today()
    query = {k: v for k, v in request.query.items() if k in ("from", "to", "pos_id", "state")}
    f = invoice_filter(query, errors, default_from=today.replace(day=1), default_to=today)
    if errors:
        raise BadQuery(errors)
    f = replace(f, kinds=dashboard_kenya.MONEY_KINDS)  # sales and credit notes only
    if not dashboard_kenya.kenya(deps.upstream):
        return BandReport(f, {}, Totals(), Totals())
    bands = await dashboard_kenya.band_sums(deps.store, f)
    sales = await deps.store.totals(replace(f, kinds=("invoice",)))
    credit_notes = await deps.store.totals(replace(f, kinds=("credit_note",)))
    return BandReport(f, bands, sales, credit_notes)


async def tax_bands(request: web.Request) -> web.Response:
    """GET /api/dashboard/reports/tax-bands?from&to&pos_id&state (Kenya)"""
    try:
        report = await band_report(request)
    except BadQuery as bad:
        return error(400, f"The report's settings are not valid: {bad}", bad.errors)
    kenya = dashboard_kenya.kenya(request.app[DEPS].upstream)
    net = report.sales + report.credit_notes
    if not kenya:
        message = "Tax bands are Kenya's (KRA eTIMS); this utility reports to KPRA."
    else:
        message = (f"{report.sales.count} sale(s) and {report.credit_notes.count} credit "
                   f"note(s) from {report.f.date_from} to {report.f.date_to}: tax "
                   f"{plain(report.tax)} KES.")
    return success(200, message, {
        "from": report.f.date_from, "to": report.f.date_to, "kenya": kenya,
        "currency": dashboard_kenya.CURRENCY if kenya else None,
        "bands": report.rows(),
        "totals": {"taxable": plain(report.taxable), "tax": plain(report.tax)},
        "sales": totals_data(report.sales), "credit_notes": totals_data(report.credit_notes),
        "net": totals_data(net),
    })
