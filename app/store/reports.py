"""Sums for the dashboard: today's sales, the charts, the sales report and the reconciliation.
Grouping is done by SQLite, summing by ``dec_sum`` (database.DecimalSum: exact decimals, never
floats). Dates are the invoice's own date_time (the receipt), YYYY-MM-DD inclusive ranges."""

from dataclasses import dataclass
from decimal import Decimal

from peewee import SqliteDatabase

from app.domain.states import State
from app.store.database import UNSYNCED
from app.store.listing import InvoiceFilter, where

_SUMS = "COUNT(*), dec_sum(amount), dec_sum(tax_amount), dec_sum(total_amount)"
PERIODS = {"day": 10, "month": 7, "hour": 13}  # characters of date_time that name the period
# Money is summed over sales and credit notes only (credit notes are stored negative): Kenya's
# item and stock rows carry no money (docs/KENYA.md). KPRA rows are all 'invoice'.
MONEY = "kind IN ('invoice', 'credit_note')"


def _where(f: InvoiceFilter) -> tuple[str, list[object]]:
    sql, params = where(f)
    return f"{sql} AND {MONEY}", params


@dataclass(frozen=True)
class Totals:
    count: int = 0
    amount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)

    def __add__(self, other: "Totals") -> "Totals":
        return Totals(self.count + other.count, self.amount + other.amount,
                      self.tax + other.tax, self.total + other.total)

    def __sub__(self, other: "Totals") -> "Totals":
        return Totals(self.count - other.count, self.amount - other.amount,
                      self.tax - other.tax, self.total - other.total)

    @classmethod
    def of(cls, count: int, amount: str | None, tax: str | None, total: str | None) -> "Totals":
        return cls(count, Decimal(amount or 0), Decimal(tax or 0), Decimal(total or 0))


@dataclass(frozen=True)
class SalesRow:
    period: str  # YYYY-MM-DD, YYYY-MM or YYYY-MM-DD HH
    pos_id: str
    payment_mode: int
    totals: Totals


def totals(db: SqliteDatabase, f: InvoiceFilter) -> Totals:
    sql, params = _where(f)
    return Totals.of(*db.execute_sql(f"SELECT {_SUMS} FROM invoice WHERE {sql}",
                                     params).fetchone())


def per_period(db: SqliteDatabase, f: InvoiceFilter, period: str) -> dict[str, Totals]:
    """Totals per day / month / hour (key: the start of date_time, e.g. '2026-11-21 09')."""
    sql, params = _where(f)
    width = PERIODS[period]
    rows = db.execute_sql(
        f"SELECT substr(date_time, 1, {width}) AS p, {_SUMS} FROM invoice WHERE {sql} "
        "GROUP BY p", params).fetchall()
    return {p: Totals.of(*sums) for p, *sums in rows}


def sales(db: SqliteDatabase, f: InvoiceFilter, period: str) -> list[SalesRow]:
    """The sales report: per period, POS and payment mode, in that order."""
    sql, params = _where(f)
    width = PERIODS[period]
    rows = db.execute_sql(
        f"SELECT substr(date_time, 1, {width}) AS p, pos_id, payment_mode, {_SUMS} "
        f"FROM invoice WHERE {sql} GROUP BY p, pos_id, payment_mode "
        "ORDER BY p, pos_id, payment_mode", params).fetchall()
    return [SalesRow(p, pos_id, mode, Totals.of(*sums)) for p, pos_id, mode, *sums in rows]


def per_day_and_state(db: SqliteDatabase, f: InvoiceFilter) -> dict[tuple[str, State], Totals]:
    """The reconciliation's grid: totals per day and state."""
    sql, params = _where(f)
    rows = db.execute_sql(
        f"SELECT substr(date_time, 1, 10) AS d, state, {_SUMS} FROM invoice WHERE {sql} "
        "GROUP BY d, state", params).fetchall()
    return {(d, State(state)): Totals.of(*sums) for d, state, *sums in rows}


def problems(db: SqliteDatabase, limit: int = 10) -> list[tuple[State, str, int]]:
    """Why invoices are rejected or held: (state, reason, how many), most common first."""
    rows = db.execute_sql(
        "SELECT state, COALESCE(last_error, ''), COUNT(*) AS n FROM invoice "
        f"WHERE state IN ('rejected', 'held') AND {UNSYNCED} GROUP BY state, last_error "
        "ORDER BY n DESC, state LIMIT ?", (limit,)).fetchall()
    return [(State(state), reason, n) for state, reason, n in rows]
