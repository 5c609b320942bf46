"""The outbox worker: takes due invoices from the store, sends them, records what happened.

Every outcome is written to the store before anything else happens to that invoice, so a crash
at any moment leaves at worst a row in `sending`, which start-up treats as ambiguous.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from app.connectors.outcomes import (
    Accepted,
    AlreadyRecorded,
    Ambiguous,
    AuthFailed,
    Connector,
    Credentials,
    Outcome,
    Rejected,
    RetryLater,
    Submitted,
)
from app.domain.invoice import WIRE_DATETIME
from app.store.gateway import Store
from app.store.records import AttemptRecord, InvoiceRecord
from app.store.writer import StorageUnavailable
from app.sync.gate import UpstreamGate
from app.sync.retry import RetryPolicy

log = logging.getLogger(__name__)

CredentialsLookup = Callable[[str, int], Awaitable[Credentials | None]]
IDLE_PROBE_EVERY = 300.0
# `rims-utility setup` in another process can release a held POS; look again this often.
IDLE_RECHECK = 2.0
# How soon to ask again about a document the authority holds but has not signed (Submitted).
SUBMITTED_POLL_EVERY = 30.0


@dataclass(frozen=True)
class ForwarderStatus:
    paused: bool
    reachable: bool | None
    last_error: str | None
    next_try_in: float
    in_flight: int
    sent: int


class Forwarder:
    def __init__(self, store: Store, connector: Connector, credentials: CredentialsLookup,
                 policy: RetryPolicy, *, concurrency: int = 8, paused: bool = False,
                 name: str = "the tax authority"):
        """``name``: the authority as the attempt log names it (the UI's: core.upstream_name)."""
        self._store = store
        self._connector = connector
        self._name = name
        self._credentials = credentials
        self._policy = policy
        self._concurrency = concurrency
        self.gate = UpstreamGate(policy)
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._sending: dict[asyncio.Task, int] = {}  # invoice id each task is sending
        self._exchanging = 0  # sends whose request to the authority is not answered yet
        self._claim_lost = False
        self._stopping = False
        self._paused = paused
        self._last_contact = 0.0
        self.sent = 0  # requests made, for statistics

    # -------------------------------------------------------------- control

    def wake(self) -> None:
        """New work (an invoice was stored, a POS released): look at the queue now. While paused
        there is nothing to look at (resume and stop wake it anyway)."""
        if not self._paused or self._stopping:
            self._wakeup.set()

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self.wake()

    def status(self) -> ForwarderStatus:
        return ForwarderStatus(
            paused=self._paused, reachable=self.gate.reachable, last_error=self.gate.last_error,
            next_try_in=round(self.gate.wait(time.time()), 1), in_flight=len(self._tasks),
            sent=self.sent)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking work; give sends in flight ``grace`` seconds to record their outcome.
        Anything cut off stays `sending` and is treated as ambiguous on the next start."""
        self._stopping = True
        self.wake()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # -------------------------------------------------------------- main loop

    async def run(self) -> None:
        try:
            # (after a restart of this loop, sends still in flight are not "interrupted")
            interrupted = await self._store.recover_interrupted(keep=list(self._sending.values()))
        except StorageUnavailable as why:
            # E.g. the writer process died with it: try again before claiming anything,
            # rather than end the forwarder (nothing would be sent until the next start).
            log.error("cannot check the queue for interrupted sends: %s", why)
            self._claim_lost, interrupted = True, 0
        if interrupted:
            log.warning("%d invoice(s) were being sent when the utility stopped; they will be "
                        "checked with the authority again", interrupted)
        prober = asyncio.create_task(self._probe_when_idle(), name="rims-upstream-probe")
        try:
            while not self._stopping:
                await self._step()
        finally:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober

    async def _step(self) -> None:
        self._wakeup.clear()
        if self._claim_lost and not await self._recover_lost_claim():
            await self._sleep(5.0)
            return
        if self._paused:
            await self._wakeup.wait()
            return
        gate_wait = self.gate.wait(time.time())
        if gate_wait > 0:
            await self._sleep(gate_wait)
            return
        # Slots free up when an answer arrives, not when its outcome is committed: the next
        # claim then joins the outcome's write in one group commit (one fsync per send, not two).
        free = (1 if self.gate.probing else self._concurrency) - self._exchanging
        if free <= 0:
            await self._sleep(None)  # a finishing send wakes us
            return
        try:
            claimed = await self._store.claim_due(free)
        except StorageUnavailable as why:
            log.error("cannot read the queue: %s", why)
            self._claim_lost = True  # it may have been committed without us hearing back
            await self._sleep(5.0)
            return
        if not claimed:
            due = await self._store.next_due_at()
            wait = IDLE_RECHECK if due is None else max(0.0, due - time.time()) + 0.01
            await self._sleep(min(wait, IDLE_RECHECK))
            return
        for invoice in claimed:
            self._exchanging += 1
            task = asyncio.create_task(self._send(invoice), name=f"rims-send-{invoice.id}")
            self._tasks.add(task)
            self._sending[task] = invoice.id
            task.add_done_callback(self._finished)

    async def _recover_lost_claim(self) -> bool:
        """A claim whose answer was lost (the writer process died) left rows in `sending` that
        nobody is sending: queue them again, as after a crash."""
        try:
            recovered = await self._store.recover_interrupted(keep=list(self._sending.values()))
        except StorageUnavailable as why:
            log.error("cannot check the queue: %s", why)
            return False
        self._claim_lost = False
        if recovered:
            log.warning("%d invoice(s) claimed for sending were put back in the queue", recovered)
        return True

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._sending.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("sending failed unexpectedly", exc_info=task.exception())
        self.wake()

    async def _sleep(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    # -------------------------------------------------------------- one invoice

    async def _send(self, invoice: InvoiceRecord) -> None:
        exchanging = True

        def answered() -> None:  # this send's slot is free again
            nonlocal exchanging
            if exchanging:
                exchanging = False
                self._exchanging -= 1
                self.wake()

        try:
            await self._send_one(invoice, answered)
        finally:
            answered()

    async def _send_one(self, invoice: InvoiceRecord, answered: Callable[[], None]) -> None:
        started = time.time()
        credentials = await self._credentials(invoice.pos_id, invoice.pos_version)
        if credentials is None:
            reason = (f"No key for POS {invoice.pos_id} in the OS keyring. Run: rims-utility "
                      f"setup --ntn {invoice.ntn} --pos-id {invoice.pos_id}")
            attempt = AttemptRecord(started, 0, None, "held", reason)
            await self._record(self._store.hold_pos, invoice.pos_id, reason, invoice.id, attempt)
            return
        clock = time.monotonic()
        self.sent += 1
        try:
            outcome = await self._connector.submit(invoice, credentials)
        except Exception as why:  # a connector bug must not strand the invoice in `sending`
            log.exception("connector failed unexpectedly")
            outcome = Ambiguous(f"Internal error while sending ({type(why).__name__}); "
                                "will retry.")
        self._last_contact = time.time()
        duration = int((time.monotonic() - clock) * 1000)
        status = getattr(outcome, "status", None)
        attempt = AttemptRecord(started, duration, status, _kind(outcome), outcome.message)
        answered()  # (the gate hears of the outcome below, before the loop claims again)
        await self._apply(invoice, outcome, attempt)

    async def _resent_after_restore(self, invoice: InvoiceRecord) -> bool:
        """A sale made before the database was restored from a backup, sent again by the till
        after it: its first copy may have reached KPRA and been lost with the damaged file."""
        restored = await self._store.restored_at()
        if restored is None or invoice.received_at < restored:
            return False
        try:
            sold = datetime.strptime(invoice.date_time, WIRE_DATETIME).timestamp()
        except (ValueError, OverflowError, OSError):
            return False
        return sold < restored

    async def _apply(self, invoice: InvoiceRecord, outcome: Outcome,
                     attempt: AttemptRecord) -> None:
        now = time.time()
        match outcome:
            case Accepted(transaction_id=transaction_id):
                self.gate.success()
                await self._record(self._store.mark_synced, invoice.id, transaction_id, attempt,
                                   outcome.upstream_ref, outcome.receipt_url)
            case Submitted(upstream_ref=upstream_ref, after=after):
                # The authority holds it but has not finished: ask about it later (polling).
                self.gate.success()
                wait = after if after is not None else SUBMITTED_POLL_EVERY
                await self._record(self._store.mark_submitted, invoice.id, upstream_ref,
                                   now + wait, attempt)
            case AlreadyRecorded(transaction_id=transaction_id):
                self.gate.success()
                if invoice.ambiguous:  # our own earlier send got there; its answer was lost
                    note = AttemptRecord(attempt.started_at, attempt.duration_ms,
                                         attempt.http_status, "already_recorded",
                                         f"{self._name} already has this invoice from an "
                                         "earlier send whose answer was lost: it is synced.")
                    await self._record(self._store.mark_synced, invoice.id, transaction_id, note)
                elif await self._resent_after_restore(invoice):
                    note = AttemptRecord(attempt.started_at, attempt.duration_ms,
                                         attempt.http_status, "already_recorded",
                                         f"{self._name} already has this invoice: it was "
                                         "sent before the database was restored from a backup, and the till "
                                         "sent it again. It is synced.")
                    await self._record(self._store.mark_synced, invoice.id, transaction_id, note)
                else:
                    note = AttemptRecord(
                        attempt.started_at, attempt.duration_ms, attempt.http_status, "rejected",
                        f"{self._name} already has invoice {invoice.invoice_no} for POS "
                        f"{invoice.pos_id}, but this utility never sent it before: another "
                        "program may have sent the same invoice number. Check with "
                        f"{self._name}. ({outcome.message})")
                    await self._record(self._store.mark_rejected, invoice.id, note)
            case Rejected():
                self.gate.success()
                log.warning("invoice %s/%s rejected: %s", invoice.pos_id, invoice.invoice_no,
                            outcome.message)
                await self._record(self._store.mark_rejected, invoice.id, attempt)
            case AuthFailed(message=message):
                self.gate.success()
                log.error("POS %s held: %s", invoice.pos_id, message)
                await self._record(self._store.hold_pos, invoice.pos_id, message, invoice.id,
                                   attempt)
            case RetryLater(after=after) if after is not None:
                wait = self._policy.retry_after(after, invoice.attempts)
                self.gate.slow_down(now, wait)
                await self._record(self._store.mark_retry, invoice.id, now + wait, False, attempt)
            case RetryLater():
                self.gate.failure(now, outcome.message, unreachable=outcome.status is None)
                next_at = now + self._policy.delay(invoice.attempts)
                await self._record(self._store.mark_retry, invoice.id, next_at, False, attempt)
            case Ambiguous():
                self.gate.failure(now, outcome.message, unreachable=outcome.status is None)
                next_at = now + self._policy.delay(invoice.attempts)
                await self._record(self._store.mark_retry, invoice.id, next_at, True, attempt)

    async def _record(self, write: Callable[..., Awaitable[object]], *args: object) -> None:
        """Persist an outcome; if the disk refuses, keep it in memory and try again."""
        delay = 1.0
        while True:
            try:
                await write(*args)
                return
            except StorageUnavailable as why:
                log.error("could not record a send's outcome (%s); retrying in %.0f s", why, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    # -------------------------------------------------------------- reachability

    async def _probe_when_idle(self) -> None:
        """Keep 'is KPRA reachable?' honest when there is nothing to send."""
        while True:
            if time.time() - self._last_contact >= IDLE_PROBE_EVERY and not self._tasks:
                reachable = await self._connector.probe()
                self._last_contact = time.time()
                if reachable:
                    self.gate.reachable = True
                elif self.gate.reachable is not False:
                    self.gate.reachable = False
                    self.gate.last_error = "The authority's server could not be reached."
            await asyncio.sleep(IDLE_PROBE_EVERY / 10)


_KINDS = {
    Accepted: "accepted", AlreadyRecorded: "already_recorded", Rejected: "rejected",
    AuthFailed: "auth_failed", RetryLater: "retry_later", Ambiguous: "ambiguous",
    Submitted: "submitted",
}


def _kind(outcome: Outcome) -> str:
    return _KINDS[type(outcome)]
