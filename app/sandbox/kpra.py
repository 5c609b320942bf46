"""A faithful local stand-in for KPRA's live RIMS endpoint (KPRA itself has no sandbox).

"Practice mode" and our integration tests talk to this instead of
https://kpra.gov.pk/api/rims-integration: real HTTPS (own CA, see tls.py), the documented
fields, validation rules, answers and error codes, duplicate protection per
(pos_id, invoice_no), and armed faults (faults.py). A second, plain-HTTP port answers
403 "HTTPS required" like the live API and carries the /_sandbox/ control routes.

This module holds the server and its endpoint; what a request must look like is in
rules.py, the records kept per invoice in book.py, the control routes in control.py, the
ports, outages and fault handling it shares with the other sandboxes in server.py.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from aiohttp import web

from app.sandbox.book import RECORDS_FILE, Book, Record
from app.sandbox.control import control_app
from app.sandbox.faults import Fault, FaultDecision
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
from app.sandbox.server import SandboxServer

__all__ = ["KpraSandbox", "Record"]

ENDPOINT_PATHS = ("/api/rims-integration", "/rims-integration")
DEFAULT_CREDENTIALS: dict[tuple[str, str], str] = {("K123456", "K123456"): "KPRA@123a"}
DUPLICATE_MODES = ("reject", "ignore")


class KpraSandbox(SandboxServer):
    """The fake KPRA: an HTTPS endpoint, a plain-HTTP control port, records and faults."""

    def __init__(
        self,
        data_dir: Path,
        *,
        credentials: dict[tuple[str, str], str] | None = None,
        duplicates: str = "reject",
    ) -> None:
        super().__init__(data_dir)
        self._credentials = dict(DEFAULT_CREDENTIALS if credentials is None else credentials)
        self.duplicates = duplicates
        self._book = Book(self.data_dir / RECORDS_FILE)

    # -- Python API (server.py: ports, URLs, outages, connection counts) ----------------

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
    def endpoint_url(self) -> str:
        return self.origin + ENDPOINT_PATHS[0]

    # -- the KPRA endpoint (HTTPS) --------------------------------------------------

    def _https_app(self) -> web.Application:
        app = web.Application()
        for path in ENDPOINT_PATHS:
            app.router.add_route("*", path, self._counted_endpoint)
        return app

    def _control_app(self) -> web.Application:
        return control_app(self)

    async def _counted_endpoint(self, request: web.Request) -> web.StreamResponse:
        return await self._counted(request, self._endpoint)

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        """POST /api/rims-integration: faults first, then parse, auth, validate, record."""
        if request.method != "POST":
            return answer(405, "Method Not Allowed. Use POST.", headers={"Allow": "POST"})
        return await self._faulted(request, self._arrive, self._respond)

    async def _arrive(self, request: web.Request) -> tuple[Any, Any]:
        body, problem = await read_body(request)
        self._book.note_request(invoice_key(body))
        return body, problem

    async def _respond(self, request: web.Request, decision: FaultDecision,
                       arrival: tuple[Any, Any]) -> web.Response:
        body, problem = arrival
        if decision.fault is Fault.FAIL:
            return answer(500, "Server error. Please try again later.")
        if decision.fault is Fault.RATE_LIMIT:
            headers = {"Retry-After": decision.retry_after_header}
            return answer(429, "Too Many Requests", headers=headers)
        if decision.fault is Fault.UNAUTHORIZED:
            return answer(401, "Unauthorized")
        if decision.fault is Fault.REJECT:
            return answer(400, "Bad Request", errors={
                "tax_amount": "does not match the tax rate (practice sandbox: reject_next)"})
        if problem:
            return answer(400, "Bad Request", errors=problem)
        return self._submit(body)

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

