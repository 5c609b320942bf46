"""The invoice list's keyset pages against a brute-force answer: every filter (one state, a group
of states, POS, payment mode, dates, invoice-number prefix, and combinations), walked page by
page, gives exactly the matching rows newest first, each once, including rows that share a
date_time (the id breaks the tie) and across the cursor."""

import random

import pytest

from app.domain.states import State
from app.store import listing
from app.store.database import open_database
from app.store.listing import STATE_GROUPS, InvoiceFilter

COUNT = 700


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory):
    database = open_database(tmp_path_factory.mktemp("listing") / "rims.sqlite3")
    rng = random.Random(7)
    rows = []
    for n in range(COUNT):
        # Few distinct times, so many rows tie on date_time and the id must order them.
        day, hour = rng.randrange(1, 6), rng.choice((9, 13))
        rows.append((rng.choice(("POS-A", "POS-B", "POS-C")),
                     f"{rng.choice(('T1', 'T12', 'T2', 'X'))}-{n:04d}",
                     f"2026-11-{day:02d} {hour:02d}:00:00", rng.choice((1, 2, 3)),
                     rng.choice(list(State)).value, f"h{n}"))
    with database.connection_context():
        with database.atomic():
            for pos_id, invoice_no, date_time, mode, state, digest in rows:
                database.execute_sql(
                    "INSERT INTO invoice (pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, "
                    "total_amount, date_time, payment_mode, received_json, warnings_json, "
                    "content_hash, state, received_at, updated_at, attempts, next_attempt_at, "
                    "ambiguous) VALUES (?, ?, 'N', '1.00', '0', '0', '1.00', ?, ?, '{}', '[]', "
                    "?, ?, 0, 0, 0, 0, 0)", (pos_id, invoice_no, date_time, mode, digest, state))
        yield database
    database.close()


def _expected(db, f: InvoiceFilter) -> list[int]:
    rows = db.execute_sql("SELECT id, pos_id, invoice_no, date_time, payment_mode, state "
                          "FROM invoice").fetchall()
    keep = [
        (date_time, id_) for id_, pos_id, invoice_no, date_time, mode, state in rows
        if (not f.states or state in {s.value for s in f.states})
        and (f.pos_id is None or pos_id == f.pos_id)
        and (f.payment_mode is None or mode == f.payment_mode)
        and (f.date_from is None or date_time[:10] >= f.date_from)
        and (f.date_to is None or date_time[:10] <= f.date_to)
        and (not f.invoice_no or invoice_no.startswith(f.invoice_no))]
    return [id_ for _, id_ in sorted(keep, reverse=True)]


FILTERS = [
    InvoiceFilter(),
    *(InvoiceFilter(states=group) for group in
      (STATE_GROUPS["rejected"], STATE_GROUPS["pending"], STATE_GROUPS["unconfirmed"])),
    InvoiceFilter(pos_id="POS-B"),
    InvoiceFilter(payment_mode=2),
    InvoiceFilter(date_from="2026-11-02", date_to="2026-11-04"),
    InvoiceFilter(invoice_no="T1"),
    InvoiceFilter(invoice_no="T12"),
    InvoiceFilter(invoice_no="nothing"),
    InvoiceFilter(states=STATE_GROUPS["pending"], pos_id="POS-A", invoice_no="T1",
                  date_from="2026-11-02"),
    InvoiceFilter(states=STATE_GROUPS["unconfirmed"], payment_mode=1, date_to="2026-11-03"),
    InvoiceFilter(states=STATE_GROUPS["synced"], invoice_no="T1"),
    InvoiceFilter(states=STATE_GROUPS["rejected"], invoice_no="T"),
    InvoiceFilter(pos_id="POS-A", payment_mode=2, invoice_no="T1"),
    InvoiceFilter(invoice_no="X", date_from="2026-11-03", date_to="2026-11-04"),
]
SEARCHES = [f for f in FILTERS if f.invoice_no]


@pytest.mark.parametrize("f", FILTERS, ids=[str(n) for n in range(len(FILTERS))])
@pytest.mark.parametrize("limit", [1, 7, 50, COUNT + 1])
def test_every_page_walk_equals_the_brute_force_answer(db, f: InvoiceFilter, limit: int):
    expected = _expected(db, f)
    with db.connection_context():
        seen, after = [], None
        for _ in range(COUNT + 2):
            records, after = listing.list_invoices(db, f, limit, after)
            assert len(records) <= limit
            seen += [r.id for r in records]
            if after is None:
                break
        assert seen == expected
        exported, after = [], None
        while True:
            rows, after = listing.export_rows(db, f, limit, after)
            exported += [row[1] for row in rows]  # invoice_no
            if after is None:
                break
    by_id = dict(db.execute_sql("SELECT id, invoice_no FROM invoice").fetchall())
    assert exported == [by_id[i] for i in expected]


def test_the_filters_do_overlap_and_select(db):
    # The brute force is only a check if the filters match some rows and not all of them.
    sizes = [len(_expected(db, f)) for f in FILTERS]
    assert sizes[0] == COUNT
    nothing = FILTERS.index(InvoiceFilter(invoice_no="nothing"))
    assert sizes[nothing] == 0
    assert all(0 < size < COUNT for n, size in enumerate(sizes[1:], 1) if n != nothing), sizes


def test_a_deep_page_seeks_by_row_value_in_the_index(db):
    f = InvoiceFilter(states=STATE_GROUPS["pending"])
    sql, params = listing._page(
        "id", f, 51, listing.Cursor("2026-11-03 09:00:00", 10))
    plan = " ".join(str(row) for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
    # One index search per state, each starting at the cursor (SQLite prints the row value's
    # first column), reading the index alone; only the page's rows are then sorted.
    assert plan.count("COVERING INDEX invoice_unsynced_state_date_time (state=? AND date_time<?)"
                      ) == len(STATE_GROUPS["pending"]), plan
    assert "SCAN invoice" not in plan, plan


def _walk(db, f: InvoiceFilter, limit: int) -> list[int]:
    """Every page of the list, as ids, following the cursor."""
    seen, after = [], None
    for _ in range(COUNT + 2):
        records, after = listing.list_invoices(db, f, limit, after)
        seen += [r.id for r in records]
        if after is None:
            return seen
    raise AssertionError("the cursor never ended")


class Statements:
    """The database, keeping each statement it runs (to see which way a search went)."""

    def __init__(self, db):
        self.db, self.sql = db, []

    def execute_sql(self, sql, params=()):
        self.sql.append(sql)
        return self.db.execute_sql(sql, params)


# A search sorts every match by date, or walks the rows newest first while its matches are
# many (listing._searched), falling back to the sort when the walk ends short of a page.
WAYS = {"sort": (COUNT + 1, 10), "walk": (1, 10 * COUNT), "walk, then sort": (1, 1)}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("f", SEARCHES, ids=[str(n) for n in range(len(SEARCHES))])
@pytest.mark.parametrize("limit", [1, 7, 50])
def test_a_search_sorted_or_walked_gives_the_same_pages(db, monkeypatch, f, way, limit):
    many, walk_rows = WAYS[way]
    monkeypatch.setattr(listing, "MANY_MATCHES", many)
    monkeypatch.setattr(listing, "WALK_ROWS", walk_rows)
    assert _walk(db, f, limit) == _expected(db, f)
    spy = Statements(db)
    with db.connection_context():
        listing.list_invoices(spy, f, limit)
    walked = any("LIMIT ?) WHERE invoice_no >= ?" in sql for sql in spy.sql)
    prefix_matches = len(_expected(db, InvoiceFilter(invoice_no=f.invoice_no)))
    assert walked == (prefix_matches >= many and len(f.states) <= 1)


def test_the_walk_is_chosen_by_a_capped_count_of_the_prefix(db, monkeypatch):
    with db.connection_context():
        matches = len(_expected(db, InvoiceFilter(invoice_no="T1")))
        monkeypatch.setattr(listing, "MANY_MATCHES", matches)
        assert listing._searched(db, InvoiceFilter(invoice_no="T1")) == listing.WALK_ROWS
        assert listing._searched(db, InvoiceFilter(invoice_no="T12")) is None  # fewer
        assert listing._searched(db, InvoiceFilter()) is None
        several = InvoiceFilter(states=STATE_GROUPS["pending"], invoice_no="T1")
        assert listing._searched(db, several) is None  # one walk per state could not merge
        # A walk that fills its page is the sorted page; one that ends short is not trusted.
        f = InvoiceFilter(invoice_no="T1")
        sorted_ = db.execute_sql(*listing._page("id", f, 20, None)).fetchall()
        assert db.execute_sql(*listing._page("id", f, 20, None, walk=COUNT)).fetchall() == sorted_
        assert len(db.execute_sql(*listing._page("id", f, 20, None, walk=20)).fetchall()) < 20
