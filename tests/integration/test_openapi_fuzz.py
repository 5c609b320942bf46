"""schemathesis against the live utility: requests generated from the OpenAPI document (positive:
what it documents as valid; negative: what it documents as invalid), every answer checked.

Per generated request: never a 5xx; the status is one the document lists for that operation; the
Content-Type and the body match what it documents for that status; every error is the one
shape {status, message, errors}, with `status` the HTTP status, and a 400 names a field.

The server is a real Core (writer process, SQLite file, the KPRA sandbox over HTTPS) on its own
event loop in a background thread, shared by the module: schemathesis sends with `requests`,
which blocks. Half the generated invoices carry the configured test POS's credentials, so
generated invoices are really stored (201), replayed and conflict (409), not only refused (401).
Likewise half the generated dashboard requests (/api/dashboard/, GET and DELETE /api/session)
carry a live session's cookie and CSRF token (a fresh session each, made on the server: the
fuzzer signs out, and the sessions are capped), and, if the generated invoice id is even, the id
of an invoice that exists (odd ones are kept: some are fuzzed invoices, most none); the other half
carry whatever schemathesis generates for them (a made-up cookie: 401). No cookie is ever kept
between requests.
The key-guessing throttle (app/server/throttle.py) is relaxed for this server, or the fuzzer's
many wrong keys would make nearly every post a 429.

Then, not from the document, hypothesis posts arbitrary JSON objects with the seed's field
names (as JSON and as forms): the same checks, and a 400 names only the seed's fields.

Cases per operation and generation mode: --fuzz-examples N (default 40: about 820 requests in
all, about 10 s; twice N for each of the arbitrary-object tests). Long mode, e.g. before a
release (5000 takes roughly 20 minutes on two cores; --timeout 0 lifts pytest's 180 s limit
per test, which one operation's 5000 cases exceed):

    bash build_scripts/test.sh tests/integration/test_openapi_fuzz.py --fuzz-examples 5000 --timeout 0

Generation is derandomized (the same cases each run with the same N), so a failure
reproduces; hypothesis prints the failing case and schemathesis a curl command for it."""

import asyncio
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import __version__
from app.domain import wire_json
from app.sandbox.kpra import KpraSandbox
from app.server import openapi
from app.server.invoice_api import DEPS
from app.server.session_api import COOKIE, CSRF_HEADER
from app.server.sessions import SessionStore
from app.server.throttle import FailureThrottle
from app.store.listing import InvoiceFilter
from tests.conftest import add_figures, wait_for
from tests.integration.conftest import KEY, NTN, POS_ID, Utility, configure_pos, invoice

DEFAULT_EXAMPLES = 40
KNOWN = "FUZZ-KNOWN-1"  # an invoice the server has, and has synced
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
DOC = openapi.build(__version__)
SCHEMA = schemathesis.openapi.from_dict(DOC)
INVOICE_TYPES = list(DOC["paths"]["/api/invoice"]["post"]["requestBody"]["content"])


def _only(media_type: str) -> dict[str, Any]:
    """The document with POST /api/invoice taking just this media type (schemathesis draws one
    of an operation's body types at random; this fuzzes each of them as much)."""
    doc = openapi.build(__version__)
    content = doc["paths"]["/api/invoice"]["post"]["requestBody"]["content"]
    doc["paths"]["/api/invoice"]["post"]["requestBody"]["content"] = {
        media_type: content[media_type]}
    return doc


BY_MEDIA_TYPE = {media: schemathesis.openapi.from_dict(_only(media)) for media in INVOICE_TYPES}
OPERATIONS = [  # (operation label, request media type or None)
    *(("POST /api/invoice", media) for media in INVOICE_TYPES),
    ("POST /api/credit-note", None), ("POST /api/item", None), ("POST /api/stock", None),
    ("GET /api/invoices/{pos_id}/{invoice_no}", None), ("GET /api/qr", None),
    ("GET /api/health", None), ("GET /", None), ("GET /api/openapi.json", None),
    ("GET /login.html", None), ("GET /dashboard.html", None), ("GET /web/{name}", None),
    ("GET /favicon.ico", None),
    ("POST /api/session", None), ("GET /api/session", None), ("DELETE /api/session", None),
    ("GET /api/session/ticket/{ticket}", None),
    ("GET /api/dashboard/sending", None), ("POST /api/dashboard/sending", None),
    ("GET /api/dashboard/overview", None), ("POST /api/dashboard/retry", None),
    ("GET /api/dashboard/pos", None), ("GET /api/dashboard/invoices", None),
    ("GET /api/dashboard/invoices/{invoice_id}", None),
    ("POST /api/dashboard/invoices/{invoice_id}/retry", None),
    ("GET /api/dashboard/reports/sales", None), ("GET /api/dashboard/reports/reconciliation", None),
    ("GET /api/dashboard/charts/daily.svg", None), ("GET /api/dashboard/charts/hourly.svg", None),
    ("GET /api/dashboard/export/{name}.{format}", None),
    ("GET /api/dashboard/authority", None), ("GET /api/dashboard/customers", None),
    ("GET /api/dashboard/reports/tax-bands", None),
    ("GET /api/dashboard/invoices/{invoice_id}/receipt-qr.{format}", None),
]


def test_every_operation_is_fuzzed():
    labels = {result.ok().label for result in SCHEMA.get_all_operations()}
    assert labels == {label for label, _ in OPERATIONS}


class LiveServer:
    """A Utility (conftest) running on its own loop in a thread, until stop()."""

    def __init__(self, root: Path):
        self.root = root
        self.base_url = ""
        self.known_id = 0  # KNOWN's id (GET /api/dashboard/invoices/{invoice_id})
        self._sessions: SessionStore | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),),
                                        name="openapi-fuzz-server", daemon=True)

    def start(self) -> "LiveServer":
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the utility did not start within 60 s")
        if self._failed is not None:
            raise self._failed
        return self

    def new_session(self) -> tuple[str, str]:
        """A fresh dashboard session of the test POS: (cookie value, CSRF token). Made on the
        server's loop, not by signing in: the fuzzer's wrong keys keep the sign-in throttled."""
        assert self._loop is not None and self._sessions is not None
        sessions = self._sessions

        async def create() -> tuple[str, str]:
            new = sessions.create(POS_ID)
            return new.token, new.session.csrf_token

        return asyncio.run_coroutine_threadsafe(create(), self._loop).result(10)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            sandbox = KpraSandbox(self.root / "sandbox")
            await sandbox.start()
            data_dir = self.root / "data"
            configure_pos(data_dir)
            utility = await Utility(data_dir, sandbox).start()
        except BaseException as why:
            self._failed = why
            self._ready.set()
            raise
        assert utility.core is not None
        status, answer, _ = await utility.post(invoice(KNOWN))
        assert status == 201, answer
        await wait_for(lambda: _synced(utility), what=f"{KNOWN} synced")
        security = getattr(utility.core, "_security", None)
        if security is not None:  # the fuzzer sends wrong keys by the hundred
            security.throttle = FailureThrottle(time.monotonic, max_failures=10**9)
        self.base_url = utility.core.base_url
        runner = getattr(utility.core, "_runner", None)
        assert runner is not None, "the fuzzer needs the server's sessions (Core._runner)"
        self._sessions = runner.app[DEPS].sessions
        records, _ = await utility.core.store.list_invoices(InvoiceFilter(invoice_no=KNOWN), 1)
        self.known_id = records[0].id
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await utility.stop()
            await sandbox.stop()


async def _synced(utility: Utility) -> bool:
    return await utility.state_of(KNOWN) == "synced"


SENT: dict[int, int] = {}  # status -> generated requests answered with it, for the summary


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, pytestconfig) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("openapi-fuzz")).start()
    yield server
    server.stop()
    if SENT:
        shown = ", ".join(f"{status}: {count}" for status, count in sorted(SENT.items()))
        add_figures(pytestconfig, f"schemathesis: {sum(SENT.values())} generated requests, no "
                                  f"5xx (answers by status: {shown})")


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        # No cookie is kept (say, from a generated sign-in that worked): a request carries a
        # session only when _made_real gives it one.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        yield session


def _signed_in(path: str, method: str) -> bool:
    """The requests that need a session: /api/dashboard/, and GET / DELETE /api/session."""
    return path.startswith("/api/dashboard/") or (path == "/api/session" and method != "POST")


def _made_real(case: schemathesis.Case, server: LiveServer) -> None:
    """The configured test POS's NTN, POS ID and key in a generated invoice; an invoice that
    exists in a status or QR request, or in a dashboard request; a live session's cookie and
    CSRF token on a dashboard request."""
    if _signed_in(case.path, case.method.upper()):
        token, csrf = server.new_session()
        case.cookies = {**(case.cookies or {}), COOKIE: token}
        case.headers = {**(case.headers or {}), CSRF_HEADER: csrf}
    if case.path_parameters and "invoice_id" in case.path_parameters:
        generated = case.path_parameters["invoice_id"]  # odd: kept (maybe a fuzzed invoice)
        if not (isinstance(generated, int) and generated % 2):
            case.path_parameters = {**case.path_parameters, "invoice_id": server.known_id}
    if isinstance(case.body, dict) and not case.path.startswith("/api/dashboard/"):
        case.body = {**case.body, "ntn": NTN, "pos_id": POS_ID, "key": KEY}
    if case.path_parameters and "pos_id" in case.path_parameters:
        case.path_parameters = {"pos_id": POS_ID, "invoice_no": KNOWN}
    if isinstance(case.query, dict) and ("pos_id" in case.query or "invoice_no" in case.query):
        case.query = {**case.query, "pos_id": POS_ID, "invoice_no": KNOWN}


def check(case: schemathesis.Case, response: Any) -> None:
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:  # the one error shape; schemas say it, this says it plainly
        answer = response.json()
        assert set(answer) == {"status", "message", "errors"}, answer
        assert answer["status"] == response.status_code and answer["message"], answer
        assert all(isinstance(v, str) and v for v in answer["errors"].values()), answer
        if response.status_code == 400:
            assert answer["errors"], f"a 400 must name what is wrong: {answer}"


def _operation(label: str, media_type: str | None) -> Any:
    method, path = label.split(" ", 1)
    return (BY_MEDIA_TYPE[media_type] if media_type else SCHEMA)[path][method]


def _can_be_invalid(label: str, media_type: str | None) -> bool:
    """Negative mode needs a body or a query to break (a path's text is any text)."""
    operation = _operation(label, media_type)
    return bool(operation.body.items or operation.query.items)


FUZZ_CASES = [  # positive mode for every operation; negative where something can be invalid
    pytest.param(label, media, mode, id=f"{label} {media or ''} {mode.value}".replace("  ", " "))
    for label, media in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or _can_be_invalid(label, media)]


@pytest.mark.parametrize(("label", "media_type", "mode"), FUZZ_CASES)
def test_generated_requests_get_documented_answers(live_server, http, request, label,
                                                   media_type, mode):
    operation = _operation(label, media_type)
    examples = request.config.getoption("--fuzz-examples") or DEFAULT_EXAMPLES
    strategy = operation.as_strategy(generation_mode=mode)
    statuses: dict[int, int] = {}

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=strategy, real=st.booleans())
    def run(case: schemathesis.Case, real: bool) -> None:
        if real:
            _made_real(case, live_server)
        response = case.call(base_url=live_server.base_url, session=http, timeout=30)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        SENT[response.status_code] = SENT.get(response.status_code, 0) + 1
        check(case, response)

    run()
    assert statuses, "no request was sent"
    if label == "POST /api/invoice" and mode is GenerationMode.POSITIVE:
        assert statuses.get(201), f"generated invoices were never stored: {statuses}"


# Not from the document: arbitrary JSON objects with the seed's field names (and the form
# encodings of the same), through the real server. Every answer is documented, a refusal names
# the fields that are wrong, and nothing is a 5xx.
SEED_FIELDS = ["ntn", "pos_id", "key", "invoice_no", "amount", "tax_rate", "tax_amount",
               "total_amount", "date_time", "date", "sales_tax", "payment_mode"]
_decimals = st.builds(lambda digits, exponent: Decimal((0, tuple(digits), exponent)),
                      st.lists(st.integers(0, 9), min_size=1, max_size=20),
                      st.one_of(st.integers(-30, 15), st.integers(-10**9, 10**9)))
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=60), _decimals,
    st.floats(allow_nan=False, allow_infinity=False), _decimals.map(str),
    st.sampled_from(["200", "0", "-1", "1e400", "NaN", "2026-04-02 12:12:12", "K123456",
                     "2026-04-02T12:12:12Z", "9999-12-31T23:59:59-14:00", " 19 ", "", "１２３"]))


def _nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.lists(inner, max_size=3),
                     st.dictionaries(st.text(max_size=5), inner, max_size=3))


_values = st.recursive(_scalars, _nested, max_leaves=5)
_OPERATION = SCHEMA["/api/invoice"]["POST"]


@pytest.mark.parametrize("encoding", ["json", "form"])
def test_arbitrary_objects_with_the_seed_field_names(live_server, http, request, encoding):
    examples = request.config.getoption("--fuzz-examples") or DEFAULT_EXAMPLES
    url = f"{live_server.base_url}/api/invoice"

    @settings(max_examples=examples * 2, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(fields=st.dictionaries(st.sampled_from([*SEED_FIELDS, "note"]), _values, max_size=14),
           real=st.booleans())
    def run(fields: dict[str, object], real: bool) -> None:
        if real:
            fields = fields | {"ntn": NTN, "pos_id": POS_ID, "key": KEY}
        if encoding == "json":
            response = http.post(url, data=wire_json.dumps_bytes(fields), timeout=30,
                                 headers={"Content-Type": "application/json"})
        else:
            response = http.post(url, data={k: wire_json.dumps(v) if not isinstance(v, str)
                                            else v for k, v in fields.items()}, timeout=30)
        assert response.status_code < 500, (response.status_code, response.text, fields)
        case = _OPERATION.Case(body=fields, media_type="application/json")
        check(case, response)  # documented status, content type and schema; the one shape
        if response.status_code == 400:
            errors = response.json()["errors"]
            assert set(errors) <= {*SEED_FIELDS, "body"}, errors  # names the seed's fields
            assert next(iter(errors.values())) in response.json()["message"]

    run()
