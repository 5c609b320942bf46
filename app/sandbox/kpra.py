"""A faithful local stand-in for KPRA's live RIMS endpoint (KPRA itself has no sandbox).

"Practice mode" and our integration tests talk to this instead of
https://kpra.gov.pk/api/rims-integration: real HTTPS (own CA, see tls.py), the documented
fields, validation rules, answers and error codes, duplicate protection per
(pos_id, invoice_no), and armed faults (faults.py). A second, plain-HTTP port answers
403 "HTTPS required" like the live API and carries the /_sandbox/ control routes.

This module holds the server and its endpoint; what a request must look like is in
rules.py, the records kept per invoice in book.py, the control routes in control.py.
"""

from __future__ import annotations

import asyncio
import hmac
import ssl
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from aiohttp import web

from app.sandbox.book import RECORDS_FILE, Book, Record
from app.sandbox.control import control_app
from app.sandbox.faults import Fault, FaultPlan
from app.sandbox.rules import (
    Key,
    answer,
    check_credential_fields,
    check_invoice,
    field_text,
    first_present,
    invoice_key,
    read_body,
)
from app.sandbox.tls import TlsFiles, ensure_certificates, server_ssl_context

__all__ = ["KpraSandbox", "Record"]

ENDPOINT_PATHS = ("/api/rims-integration", "/rims-integration")
DEFAULT_CREDENTIALS: dict[tuple[str, str], str] = {("K123456", "K123456"): "KPRA@123a"}
DUPLICATE_MODES = ("reject", "ignore")
SHUTDOWN_TIMEOUT = 2.0


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
        self._book = Book(self.data_dir / RECORDS_FILE)
        self._tls: TlsFiles | None = None
        self._ssl: ssl.SSLContext | None = None
        self._https_runner: web.AppRunner | None = None
        self._http_runner: web.AppRunner | None = None
        self._https_site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._ports: tuple[int, int] | None = None
        self._down_lock = asyncio.Lock()
        self._in_flight = 0
        self._peers: set[object] = set()  # client (address, port) of every connection seen

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
    def connections_seen(self) -> int:
        """How many client connections have made requests to the HTTPS endpoint since start
        (each a TLS handshake): a client that reuses connections makes few."""
        return len(self._peers)

    @property
    def in_flight(self) -> int:
        """Requests the HTTPS endpoint is handling right now (e.g. held or slowed by a fault)."""
        return self._in_flight

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
    def tls_dir(self) -> Path:
        """Where its certificates are kept (tls.py: made at the first start, then reused)."""
        return self.data_dir / "tls"

    @property
    def down(self) -> bool:
        return self.faults.down

    async def start(self, host: str = "127.0.0.1", port: int = 0, http_port: int = 0) -> None:
        """Listen: HTTPS endpoint on `port`, plain-HTTP control on `http_port` (0 = any)."""
        if self._https_runner is not None:
            raise RuntimeError("sandbox already started")
        self._host = "127.0.0.1" if host == "localhost" else host
        self._tls = await asyncio.to_thread(ensure_certificates, self.tls_dir)
        self._ssl = server_ssl_context(self._tls)
        https_app = web.Application()
        for path in ENDPOINT_PATHS:
            https_app.router.add_route("*", path, self._counted_endpoint)
        self._https_runner = web.AppRunner(https_app, shutdown_timeout=SHUTDOWN_TIMEOUT)
        self._http_runner = web.AppRunner(control_app(self), shutdown_timeout=SHUTDOWN_TIMEOUT)
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

    async def _counted_endpoint(self, request: web.Request) -> web.StreamResponse:
        self._in_flight += 1
        transport = request.transport
        if transport is not None:
            self._peers.add(transport.get_extra_info("peername"))
        try:
            return await self._endpoint(request)
        finally:
            self._in_flight -= 1

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        """POST /api/rims-integration: faults first, then parse, auth, validate, record."""
        if request.method != "POST":
            return answer(405, "Method Not Allowed. Use POST.", headers={"Allow": "POST"})
        decision = self.faults.take()
        if decision.fault is Fault.DOWN:
            request.protocol.force_close()
            return web.Response()
        body, problem = await read_body(request)
        self._book.note_request(invoice_key(body))
        if decision.fault is Fault.RESET:
            # The connection breaks before the invoice is handled: nothing recorded.
            request.protocol.force_close()
            return web.Response()
        if decision.hold > 0:
            # Stuck on the way in: the client may give up; the invoice is handled anyway.
            await asyncio.sleep(decision.hold)
        if decision.fault is Fault.FAIL:
            response = answer(500, "Server error. Please try again later.")
        elif decision.fault is Fault.RATE_LIMIT:
            headers = {"Retry-After": decision.retry_after_header}
            response = answer(429, "Too Many Requests", headers=headers)
        elif decision.fault is Fault.UNAUTHORIZED:
            response = answer(401, "Unauthorized")
        elif decision.fault is Fault.REJECT:
            response = answer(400, "Bad Request", errors={
                "tax_amount": "does not match the tax rate (practice sandbox: reject_next)"})
        elif problem:
            response = answer(400, "Bad Request", errors=problem)
        else:
            response = self._submit(body)
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        if decision.fault is Fault.DROP:
            # The invoice was handled (maybe recorded); the answer is lost on the way back.
            request.protocol.force_close()
        return response

    def _submit(self, body: Mapping[str, Any]) -> web.Response:
        errors = check_credential_fields(body)
        if errors:
            return answer(400, "Bad Request", errors=errors)
        ntn, pos_id, key = (str(field_text(body[name])) for name in ("ntn", "pos_id", "key"))
        if not self._authorised(ntn, pos_id, key):
            return answer(401, "Unauthorized")
        errors = check_invoice(body)
        if errors:
            return answer(400, "Bad Request", errors=errors)
        invoice_no = str(field_text(body["invoice_no"]))
        existing = self._book.records.get((pos_id, invoice_no))
        if existing is None:
            fields = {name: value for name, value in body.items() if name != "key"}
            tid = self._book.add((pos_id, invoice_no), fields)
        elif self._duplicates == "reject":
            message = (
                f"Duplicate invoice: invoice_no {invoice_no} is already recorded "
                f"for pos_id {pos_id}."
            )
            return answer(400, message, errors={"invoice_no": "duplicate"})
        else:
            tid, fields = existing
        data = {
            "transaction_id": tid,
            "invoice_no": invoice_no,
            "pos_id": pos_id,
            "date_time": first_present(fields, "date", "date_time")[1],
        }
        return answer(201, "Invoice created successfully.", data=data)

    def _authorised(self, ntn: str, pos_id: str, key: str) -> bool:
        expected = self._credentials.get((ntn, pos_id))
        # Compare even when the POS is unknown, so timing does not tell which part was wrong.
        reference = expected if expected is not None else key + "\0"
        matches = hmac.compare_digest(key.encode(), reference.encode())
        return expected is not None and matches


def _url_host(host: str) -> str:
    """The address clients should use for a bind address (the cert covers these)."""
    if host in ("", "0.0.0.0", "127.0.0.1"):
        return "127.0.0.1"
    if host in ("::", "::1"):
        return "[::1]"
    return f"[{host}]" if ":" in host else host
