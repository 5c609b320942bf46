"""Downloads of every list and report as CSV or XLSX (/api/dashboard/export/{name}.{format}).
The invoice list streams in keyset batches (a million rows never sit in memory); the reports are
small and built by reports_api.py, so a download always matches the page."""

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

from aiohttp import web

from app.domain.invoice import wire_time
from app.domain.states import State
from app.server import dashboard_kenya, exports
from app.server.dashboard_query import BadQuery, invoice_filter, payment_mode_name
from app.server.invoice_api import DEPS
from app.server.reports_api import band_report, reconciliation_report, sales_report
from app.server.responses import error
from app.store.listing import InvoiceFilter

BATCH = 2000
FORMATS = ("csv", "xlsx")
INVOICE_HEADER = ("POS ID", "Invoice no", "Date and time", "Payment mode", "Amount", "Tax rate",
                  "Tax", "Total", "State", "Attempts", "Last error", "Transaction id",
                  "Received at", "Synced at")
SALES_HEADER = ("Period", "POS ID", "Payment mode", "Invoices", "Amount", "Tax", "Total")
# Kenya (docs/KENYA.md): the kind, the customer, the links, and each band's taxable and tax.
KENYA_HEADER = (*INVOICE_HEADER, "Kind", "Number", "Customer PIN", "Customer name",
                "Original invoice", "Upstream id", "Receipt link",
                *(f"Band {b} {what}" for b in dashboard_kenya.BANDS for what in ("taxable", "tax")))
INVOICE_MONEY = {4, 6, 7}  # Amount, Tax, Total (the tax rate is no money)
KENYA_MONEY = {*INVOICE_MONEY, *range(len(INVOICE_HEADER) + 7, len(INVOICE_HEADER) + 7 + 10)}
BANDS_HEADER = ("Band", "Rate", "Documents", "Taxable (KES)", "Tax (KES)")
RECONCILIATION_HEADER = ("Day", "Invoices received", "Total received", "Invoices confirmed",
                         "Total confirmed", "Invoices not confirmed", "Total not confirmed")


async def _invoice_batches(request: web.Request, f: InvoiceFilter
                           ) -> AsyncIterator[list[Sequence[object]]]:
    store = request.app[DEPS].store
    after = None
    while True:
        rows, after = await store.export_rows(f, BATCH, after)
        yield [(pos_id, invoice_no, date_time, payment_mode_name(mode), Decimal(amount),
                Decimal(rate), Decimal(tax), Decimal(total), state, attempts, last_error,
                transaction_id, wire_time(received_at), wire_time(synced_at))
               for (pos_id, invoice_no, date_time, mode, amount, rate, tax, total, state,
                    attempts, last_error, transaction_id, received_at, synced_at) in rows]
        if after is None:
            return


async def _kenya_batches(request: web.Request, f: InvoiceFilter
                         ) -> AsyncIterator[list[Sequence[object]]]:
    """Kenya's rows, from the records (their detail holds the customer and the bands)."""
    store = request.app[DEPS].store
    after = None
    while True:
        records, after = await store.list_invoices(f, BATCH // 4, after)
        rows = []
        for r in records:
            k = dashboard_kenya.row_fields(r)
            bands = {b["band"]: b for b in dashboard_kenya.band_list(r)}
            money = r.kind in dashboard_kenya.MONEY_KINDS
            rows.append((
                r.pos_id, r.invoice_no, r.date_time,
                dashboard_kenya.payment_mode_name(r.payment_mode, request.app[DEPS].upstream),
                r.amount if money else None, r.tax_rate if money else None,
                r.tax_amount if money else None, r.total_amount if money else None,
                r.state.value, r.attempts, r.last_error, r.transaction_id,
                wire_time(r.received_at), wire_time(r.synced_at),
                k["kind_name"], k["number"], k["customer_pin"], k["customer_name"],
                k["original_invoice_no"], r.upstream_ref, r.receipt_url,
                *(Decimal(bands[b][what]) if b in bands else None
                  for b in dashboard_kenya.BANDS for what in ("taxable", "tax"))))
        yield rows
        if after is None:
            return


async def _once(rows: list[Sequence[object]]) -> AsyncIterator[list[Sequence[object]]]:
    yield rows


def _stamp() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d_%H%M")


async def export(request: web.Request) -> web.StreamResponse:
    """GET /api/dashboard/export/{name}.{format}: name is invoices, sales or reconciliation;
    the query is the same as the list's or report's."""
    name, fmt = request.match_info["name"], request.match_info["format"]
    if fmt not in FORMATS:
        return error(404, "Exports are .csv or .xlsx files.", {"format": "must be csv or xlsx"})
    try:
        if name == "invoices":
            f = invoice_filter(request.query, payment_modes=dashboard_kenya.payment_modes(
                request.app[DEPS].upstream))
            if dashboard_kenya.kenya(request.app[DEPS].upstream):
                return await exports.send_export(
                    request, f"invoices_{_stamp()}.{fmt}", fmt, KENYA_HEADER,
                    _kenya_batches(request, f), money_columns=KENYA_MONEY)
            return await exports.send_export(request, f"invoices_{_stamp()}.{fmt}", fmt,
                                             INVOICE_HEADER, _invoice_batches(request, f),
                                             money_columns=INVOICE_MONEY)
        if name == "sales":
            report = await sales_report(request)
            rows: list[Sequence[object]] = [
                (r.period, r.pos_id, report.mode_name(r.payment_mode), r.totals.count,
                 r.totals.amount, r.totals.tax, r.totals.total) for r in report.rows]
            t = report.totals
            rows.append(("Total", "", "", t.count, t.amount, t.tax, t.total))
            filename = f"sales_by_{report.period}_{report.f.date_from}_to_{report.f.date_to}.{fmt}"
            return await exports.send_export(request, filename, fmt, SALES_HEADER, _once(rows))
        if name == "tax-bands":
            bands = await band_report(request)
            rows = [(f"Band {r['band']}", r["rate"], r["count"], Decimal(r["taxable"]),
                     Decimal(r["tax"])) for r in bands.rows()]
            rows.append(("Total", "", None, bands.taxable, bands.tax))
            filename = f"tax_bands_{bands.f.date_from}_to_{bands.f.date_to}.{fmt}"
            return await exports.send_export(request, filename, fmt, BANDS_HEADER, _once(rows),
                                             money_columns={3, 4}, sheet_name="tax bands")
        if name == "reconciliation":
            recon = await reconciliation_report(request)
            rows = [(day, local.count, local.total, confirmed.count, confirmed.total,
                     unconfirmed.count, unconfirmed.total)
                    for day, local, confirmed, unconfirmed in recon.day_totals()]
            local = recon.where(tuple(State))
            confirmed = recon.where((State.SYNCED,))
            unconfirmed = local - confirmed
            rows.append(("Total", local.count, local.total, confirmed.count, confirmed.total,
                         unconfirmed.count, unconfirmed.total))
            filename = f"reconciliation_{recon.f.date_from}_to_{recon.f.date_to}.{fmt}"
            return await exports.send_export(request, filename, fmt, RECONCILIATION_HEADER,
                                             _once(rows))
    except BadQuery as bad:
        return error(400, f"The export's settings are not valid: {bad}", bad.errors)
    return error(404, "There is no such export. Exports: invoices, sales, reconciliation, "
                      "tax-bands.",
                 {"name": "must be invoices, sales, reconciliation or tax-bands"})
