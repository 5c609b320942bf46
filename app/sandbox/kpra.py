"""A faithful local stand-in for KPRA's live RIMS endpoint (KPRA itself has no sandbox).

"Practice mode" and our integration tests talk to this instead of
https://kpra.gov.pk/api/rims-integration: real HTTPS (own CA, see tls.py), the documented
fields, validation rules, answers and error codes, duplicate protection per
(pos_id, invoice_no), and armed faults (faults.py). A second, plain-HTTP port answers
403 "HTTPS required" like the live API and carries the /_sandbox/ control routes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from app.sandbox.faults import Fault, FaultPlan
from app.sandbox.tls import TlsFiles, ensure_certificates, server_ssl_context

log = logging.getLogger(__name__)

ENDPOINT_PATHS = ("/api/rims-integration", "/rims-integration")
DEFAULT_CREDENTIALS: dict[tuple[str, str], str] = {("K123456", "K123456"): "KPRA@123a"}
DUPLICATE_MODES = ("reject", "ignore")
FIRST_TRANSACTION_ID = 8843481
RECORDS_FILE = "records.jsonl"
SHUTDOWN_TIMEOUT = 2.0
MAX_INVOICE_NO = 50
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

Key = tuple[str, str]
Errors = dict[str, str]


@dataclass(frozen=True)
class Record:
    """One invoice the sandbox accepted: its id, fields as received (no `key`), arrivals."""

    pos_id: str
    invoice_no: str
    transaction_id: int
    fields: Mapping[str, Any]
    received_count: int


class KpraSandbox:
    """The fake KPRA: an HTTPS endpoint, a plain-HTTP control port, records and faults."""

    def __init__(
        self,
        data_dir: Path,
        *,
        credentials: dict[tuple[str, str], str] | None = None,
        duplicates: str = "reject",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._credentials = dict(DEFAULT_CREDENTIALS if credentials is None else credentials)
        self.duplicates = duplicates
        self.faults = FaultPlan()
        self._book = _Book(self.data_dir / RECORDS_FILE)
        self._tls: TlsFiles | None = None
        self._ssl: ssl.SSLContext | None = None
        self._https_runner: web.AppRunner | None = None
        self._http_runner: web.AppRunner | None = None
        self._https_site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._ports: tuple[int, int] | None = None
        self._down_lock = asyncio.Lock()

    # -- Python API -------------------------------------------------------------------

    @property
    def duplicates(self) -> str:
        """'reject' (400 on a repeat) or 'ignore' (201 with the original answer)."""
        return self._duplicates

    @duplicates.setter
    def duplicates(self, mode: str) -> None:
        if mode not in DUPLICATE_MODES:
            raise ValueError(f"duplicates must be one of {DUPLICATE_MODES}, not {mode!r}")
        self._duplicates = mode

    def add_credentials(self, ntn: str, pos_id: str, key: str) -> None:
        """Register (or replace) the key for one NTN + POS ID."""
        self._credentials[(ntn, pos_id)] = key

    def records(self) -> dict[Key, Record]:
        """Snapshot of every accepted invoice, keyed by (pos_id, invoice_no)."""
        return {
            key: Record(*key, tid, MappingProxyType(dict(fields)), self.received_count(*key))
            for key, (tid, fields) in list(self._book.records.items())
        }

    def received_count(self, pos_id: str, invoice_no: str) -> int:
        """How many POSTs naming this invoice reached the HTTPS endpoint, whatever the answer."""
        return self._book.counts.get((pos_id, invoice_no), 0)

    @property
    def total_requests(self) -> int:
        """Every POST that reached the HTTPS endpoint (persisted across restarts)."""
        return self._book.total

    @property
    def https_port(self) -> int:
        return self._started()[0]

    @property
    def http_port(self) -> int:
        return self._started()[1]

    @property
    def endpoint_url(self) -> str:
        return f"https://{_url_host(self._host)}:{self.https_port}{ENDPOINT_PATHS[0]}"

    @property
    def control_url(self) -> str:
        return f"http://{_url_host(self._host)}:{self.http_port}/_sandbox"

    @property
    def ca_file(self) -> Path:
        """The CA certificate a client must trust (exists once started)."""
        if self._tls is None:
            raise RuntimeError("sandbox not started")
        return self._tls.ca_pem

    @property
    def down(self) -> bool:
        return self.faults.down

    async def start(self, host: str = "127.0.0.1", port: int = 0, http_port: int = 0) -> None:
        """Listen: HTTPS endpoint on `port`, plain-HTTP control on `http_port` (0 = any)."""
        if self._https_runner is not None:
            raise RuntimeError("sandbox already started")
        self._host = "127.0.0.1" if host == "localhost" else host
        self._tls = await asyncio.to_thread(ensure_certificates, self.data_dir / "tls")
        self._ssl = server_ssl_context(self._tls)
        https_app = web.Application()
        for path in ENDPOINT_PATHS:
            https_app.router.add_route("*", path, self._endpoint)
        self._https_runner = web.AppRunner(https_app, shutdown_timeout=SHUTDOWN_TIMEOUT)
        self._http_runner = web.AppRunner(self._control_app(), shutdown_timeout=SHUTDOWN_TIMEOUT)
        try:
            await self._https_runner.setup()
            await self._http_runner.setup()
            https_port = await self._open_https(port)
            http_site = web.TCPSite(self._http_runner, self._host, http_port)
            await http_site.start()
            self._ports = (https_port, http_site.port)
            self.faults.down = False
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close both ports and every open connection."""
        runners = (self._http_runner, self._https_runner)
        self._http_runner = self._https_runner = self._https_site = None
        self._ports = None
        for runner in runners:
            if runner is not None:
                await runner.cleanup()

    async def set_down(self, down: bool) -> None:
        """Simulate an outage: stop the HTTPS site (connections refused) or bring it back."""
        async with self._down_lock:
            runner = self._https_runner
            if runner is None or runner.server is None or self._ports is None:
                raise RuntimeError("sandbox not started")
            if down:
                self.faults.down = True
                if self._https_site is not None:
                    await self._https_site.stop()
                    self._https_site = None
                for connection in runner.server.connections:
                    connection.force_close()
            else:
                if self._https_site is None:
                    await self._open_https(self._ports[0])
                self.faults.down = False

    async def reset_faults(self) -> None:
        """Clear every fault, including an outage started with `set_down(True)`."""
        self.faults.reset()
        if self._ports is not None:
            await self.set_down(False)

    async def __aenter__(self) -> KpraSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _started(self) -> tuple[int, int]:
        if self._ports is None:
            raise RuntimeError("sandbox not started")
        return self._ports

    async def _open_https(self, port: int) -> int:
        assert self._https_runner is not None
        site = web.TCPSite(self._https_runner, self._host, port, ssl_context=self._ssl)
        await site.start()
        self._https_site = site
        return site.port

    # -- the KPRA endpoint (HTTPS) --------------------------------------------------

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        """POST /api/rims-integration: faults first, then parse, auth, validate, record."""
        if request.method != "POST":
            return _answer(405, "Method Not Allowed. Use POST.", headers={"Allow": "POST"})
        decision = self.faults.take()
        if decision.fault is Fault.DOWN:
            request.protocol.force_close()
            return web.Response()
        body, problem = await _read_body(request)
        self._book.note_request(_invoice_key(body))
        if decision.fault is Fault.FAIL:
            response = _answer(500, "Server error. Please try again later.")
        elif decision.fault is Fault.RATE_LIMIT:
            headers = {"Retry-After": decision.retry_after_header}
            response = _answer(429, "Too Many Requests", headers=headers)
        elif decision.fault is Fault.UNAUTHORIZED:
            response = _answer(401, "Unauthorized")
        elif problem:
            response = _answer(400, "Bad Request", errors=problem)
        else:
            response = self._submit(body)
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        if decision.fault is Fault.DROP:
            # The invoice was handled (maybe recorded); the answer is lost on the way back.
            request.protocol.force_close()
        return response

    def _submit(self, body: Mapping[str, Any]) -> web.Response:
        errors = _check_credential_fields(body)
        if errors:
            return _answer(400, "Bad Request", errors=errors)
        ntn, pos_id, key = (str(_text(body[name])) for name in ("ntn", "pos_id", "key"))
        if not self._authorised(ntn, pos_id, key):
            return _answer(401, "Unauthorized")
        errors = _check_invoice(body)
        if errors:
            return _answer(400, "Bad Request", errors=errors)
        invoice_no = str(_text(body["invoice_no"]))
        existing = self._book.records.get((pos_id, invoice_no))
        if existing is None:
            fields = {name: value for name, value in body.items() if name != "key"}
            tid = self._book.add((pos_id, invoice_no), fields)
        elif self._duplicates == "reject":
            message = (
                f"Duplicate invoice: invoice_no {invoice_no} is already recorded "
                f"for pos_id {pos_id}."
            )
            return _answer(400, message, errors={"invoice_no": "duplicate"})
        else:
            tid, fields = existing
        data = {
            "transaction_id": tid,
            "invoice_no": invoice_no,
            "pos_id": pos_id,
            "date_time": _first_present(fields, "date", "date_time")[1],
        }
        return _answer(201, "Invoice created successfully.", data=data)

    def _authorised(self, ntn: str, pos_id: str, key: str) -> bool:
        expected = self._credentials.get((ntn, pos_id))
        # Compare even when the POS is unknown, so timing does not tell which part was wrong.
        reference = expected if expected is not None else key + "\0"
        matches = hmac.compare_digest(key.encode(), reference.encode())
        return expected is not None and matches

    # -- plain HTTP: 403 for the API, /_sandbox/ control routes --------------------

    def _control_app(self) -> web.Application:
        app = web.Application()
        routes = [
            web.get("/_sandbox", self._c_status),
            web.get("/_sandbox/invoices", self._c_invoices),
            web.get("/_sandbox/faults", self._c_faults),
            web.post("/_sandbox/faults", self._c_faults),
            web.post("/_sandbox/credentials", self._c_credentials),
            web.get("/_sandbox/duplicates", self._c_duplicates),
            web.post("/_sandbox/duplicates", self._c_duplicates),
            web.get("/_sandbox/down", self._c_down),
            web.post("/_sandbox/down", self._c_down),
            web.route("*", "/{tail:.*}", _https_required),
        ]
        app.router.add_routes(routes)
        return app

    async def _c_status(self, request: web.Request) -> web.Response:
        status = {
            "endpoint_url": self.endpoint_url,
            "ca_file": str(self.ca_file),
            "duplicates": self.duplicates,
            "faults": self.faults.snapshot(),
            "total_requests": self.total_requests,
        }
        return _control(status)

    async def _c_invoices(self, request: web.Request) -> web.Response:
        invoices = [
            {
                "pos_id": r.pos_id,
                "invoice_no": r.invoice_no,
                "transaction_id": r.transaction_id,
                "received_count": r.received_count,
                "fields": dict(r.fields),
            }
            for r in sorted(self.records().values(), key=lambda r: r.transaction_id)
        ]
        return _control({"invoices": invoices, "total_requests": self.total_requests})

    async def _c_faults(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            changes = await _control_body(request)
            down = changes.pop("down", None)
            if down is not None and not isinstance(down, bool):
                return _control({"error": "down: must be true or false"}, 400)
            try:
                self.faults.apply(changes)
            except ValueError as exc:
                return _control({"error": str(exc)}, 400)
            if down is not None or changes.get("reset") is True:
                await self.set_down(bool(down))
        return _control(self.faults.snapshot())

    async def _c_credentials(self, request: web.Request) -> web.Response:
        body = await _control_body(request)
        values = [body.get(name) for name in ("ntn", "pos_id", "key")]
        if not all(isinstance(v, str) and v for v in values):
            return _control({"error": "ntn, pos_id and key must be non-empty strings"}, 400)
        self.add_credentials(*values)
        return _control({"ntn": values[0], "pos_id": values[1]})

    async def _c_duplicates(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.duplicates = (await _control_body(request)).get("mode")
            except ValueError as exc:
                return _control({"error": str(exc)}, 400)
        return _control({"mode": self.duplicates})

    async def _c_down(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            down = (await _control_body(request)).get("down")
            if not isinstance(down, bool):
                return _control({"error": "down: must be true or false"}, 400)
            await self.set_down(down)
        return _control({"down": self.down})


class _Book:
    """Accepted invoices and arrival counts, appended to records.jsonl and replayed on load.

    Two kinds of line: {"event":"request", pos_id, invoice_no} per POST (ids null when the
    body did not name them) and {"event":"record", pos_id, invoice_no, transaction_id,
    fields}. The `key` is never in `fields`. Damaged lines are skipped with a log message.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[Key, tuple[int, dict[str, Any]]] = {}
        self.counts: dict[Key, int] = {}
        self.total = 0
        self.next_id = FIRST_TRANSACTION_ID
        if path.exists():
            self._load()

    def note_request(self, key: Key | None) -> None:
        pos_id, invoice_no = key if key else (None, None)
        self._append({"event": "request", "pos_id": pos_id, "invoice_no": invoice_no})

    def add(self, key: Key, fields: dict[str, Any]) -> int:
        tid = self.next_id
        event = {"event": "record", "pos_id": key[0], "invoice_no": key[1]}
        self._append({**event, "transaction_id": tid, "fields": fields})
        return tid

    def _load(self) -> None:
        text = self.path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            try:
                self._apply(json.loads(line, parse_float=Decimal))
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("%s line %d is damaged; skipped", self.path, number)
        if text and not text.endswith("\n"):  # a crash cut the last line: start afresh
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n")

    def _apply(self, event: dict[str, Any]) -> None:
        pos_id, invoice_no = event["pos_id"], event["invoice_no"]
        named = isinstance(pos_id, str) and isinstance(invoice_no, str)
        key = (pos_id, invoice_no) if named else None
        if event["event"] == "request":
            self.total += 1
            if key:
                self.counts[key] = self.counts.get(key, 0) + 1
        elif event["event"] == "record":
            tid, fields = event["transaction_id"], event["fields"]
            if key is None or not isinstance(tid, int) or not isinstance(fields, dict):
                raise ValueError("malformed record")
            self.records[key] = (tid, fields)
            self.next_id = max(self.next_id, tid + 1)

    def _append(self, event: dict[str, Any]) -> None:
        stamped = {**event, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(_dumps(stamped) + "\n")
        self._apply(event)


# -- request parsing and the seed's validation rules ----------------------------------


async def _read_body(request: web.Request) -> tuple[dict[str, Any], Errors | None]:
    """The fields of a JSON or form body, or the reason it is a Bad Request."""
    raw = await request.read()
    kind = request.content_type
    try:
        if kind == "application/json":
            parsed = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_nan)
            if not isinstance(parsed, dict):
                return {}, {"body": "must be a JSON object"}
            return parsed, None
        if kind == "application/x-www-form-urlencoded":
            text = raw.decode("utf-8")
            return dict(parse_qsl(text, keep_blank_values=True, errors="strict")), None
    except (ValueError, RecursionError):
        return {}, {"body": f"malformed {'JSON' if kind.endswith('json') else 'form data'}"}
    return {}, {"content_type": "use application/json or application/x-www-form-urlencoded"}


def _nan(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str | None:
    """A string field's value; JSON integers are accepted as their digits (e.g. invoice 19)."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: Any) -> Decimal | None:
    """A JSON number or numeric string as an exact Decimal; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _valid_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return False
    try:
        dt.datetime.strptime(value, DATE_FORMAT)
    except ValueError:
        return False
    return True


def _first_present(body: Mapping[str, Any], *names: str) -> tuple[str | None, Any]:
    for name in names:
        if _present(body.get(name)):
            return name, body[name]
    return None, None


def _invoice_key(body: Mapping[str, Any]) -> Key | None:
    pos_id, invoice_no = _text(body.get("pos_id")), _text(body.get("invoice_no"))
    return (pos_id, invoice_no) if pos_id is not None and invoice_no is not None else None


def _check_text(body: Mapping[str, Any], name: str, errors: Errors) -> None:
    if not _present(body.get(name)):
        errors[name] = "required"
    elif _text(body[name]) is None:
        errors[name] = "must be a string"


def _check_credential_fields(body: Mapping[str, Any]) -> Errors:
    errors: Errors = {}
    for name in ("ntn", "pos_id", "key"):
        _check_text(body, name, errors)
    return errors


def _check_number(body: Mapping[str, Any], name: str, errors: Errors) -> Decimal | None:
    if not _present(body.get(name)):
        errors[name] = "required"
        return None
    number = _number(body[name])
    if number is None:
        errors[name] = "must be a number"
    return number


def _check_invoice(body: Mapping[str, Any]) -> Errors:
    """The seed's rules, over live (`date`, `sales_tax`) or utility (`date_time`,
    `tax_amount`) field names. Tax arithmetic is deliberately not checked (nor by KPRA)."""
    errors: Errors = {}
    _check_text(body, "invoice_no", errors)
    if "invoice_no" not in errors and len(str(_text(body["invoice_no"]))) > MAX_INVOICE_NO:
        errors["invoice_no"] = f"must be at most {MAX_INVOICE_NO} characters"
    for name in ("amount", "total_amount"):
        number = _check_number(body, name, errors)
        if number is not None and number <= 0:
            errors[name] = "must be greater than 0"
    rate = _check_number(body, "tax_rate", errors)
    if rate is not None and not 0 <= rate <= 100:
        errors["tax_rate"] = "must be between 0 and 100"
    if _first_present(body, "sales_tax", "tax_amount")[0] is None:
        errors["sales_tax"] = "required (or tax_amount)"
    for name in ("sales_tax", "tax_amount"):
        if _present(body.get(name)):
            _check_number(body, name, errors)
    if _first_present(body, "date", "date_time")[0] is None:
        errors["date"] = "required (or date_time)"
    for name in ("date", "date_time"):
        if _present(body.get(name)) and not _valid_date(body[name]):
            errors[name] = "must be a valid date and time as YYYY-MM-DD HH:MM:SS"
    mode = body.get("payment_mode")
    number = _number(mode) if _present(mode) else None
    if number is not None and number not in (1, 2):  # non-numeric values mean 1 (cash)
        errors["payment_mode"] = "must be 1 (cash) or 2 (card)"
    return errors


# -- small helpers ----------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    """JSON text with Decimals written exactly as numbers (json.dumps would need floats)."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_dumps(v) for v in obj) + "]"
    return json.dumps(obj)


def _answer(
    status: int,
    message: str,
    *,
    errors: Errors | None = None,
    data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A KPRA-shaped JSON answer: {"status", "message", ["errors"], ["data"]}."""
    payload: dict[str, Any] = {"status": status, "message": message}
    if errors is not None:
        payload["errors"] = errors
    if data is not None:
        payload["data"] = data
    return _control(payload, status, headers)


def _control(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=_dumps(obj), content_type="application/json", headers=headers
    )


async def _control_body(request: web.Request) -> dict[str, Any]:
    """A control route's JSON object body (empty body = {}), or a 400."""
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = json.dumps({"error": "body must be a JSON object"})
        raise web.HTTPBadRequest(text=text, content_type="application/json")
    return body


async def _https_required(request: web.Request) -> web.Response:
    return _answer(403, "HTTPS required")


def _url_host(host: str) -> str:
    """The address clients should use for a bind address (the cert covers these)."""
    if host in ("", "0.0.0.0", "127.0.0.1"):
        return "127.0.0.1"
    if host in ("::", "::1"):
        return "[::1]"
    return f"[{host}]" if ":" in host else host
