"""The pieces the reliability tests are made of: tills posting invoices the way a POS does, a real
`rims-utility serve` process that can be killed like a power cut, and the audit that reads what
the utility's database and the KPRA sandbox's books say afterwards.

Nothing here sleeps to hope something happened: every wait is on a condition, with a bound, and
fails saying what was missing. (The only sleeps are a till's pause before it posts again, which
is what a till does.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from app.sandbox.kpra import KpraSandbox
from tests.conftest import wait_for
from tests.integration.conftest import POS_ID, invoice

CLI = [sys.executable, "-m", "app"]
REPO = Path(__file__).resolve().parents[2]
# Outcomes after which the utility does not know whether KPRA recorded the invoice: only then
# may the same invoice reach KPRA again after KPRA recorded it.
AMBIGUOUS = frozenset({"ambiguous", "interrupted"})
# Outcomes after which a send again is expected (KPRA said "not now" or did not say).
INCONCLUSIVE = AMBIGUOUS | {"retry_later"}
POS_TIMEOUT = aiohttp.ClientTimeout(total=20)  # a till gives up on one request after this


# ---------------------------------------------------------------- the tills


@dataclass
class TillStats:
    posts: int = 0
    acknowledged: int = 0
    replayed: int = 0  # 201 with Idempotent-Replayed: the first copy was stored, answer lost
    refused_503: int = 0
    connection_errors: int = 0
    timeouts: int = 0
    unexpected: list[tuple[str, int, str]] = field(default_factory=list)

    def add(self, other: TillStats) -> None:
        for name in ("posts", "acknowledged", "replayed", "refused_503", "connection_errors",
                     "timeouts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unexpected.extend(other.unexpected)


class Tills:
    """``count`` tills posting distinct invoices, one after the other each, as fast as they are
    answered. A till posts the same invoice again after a connection error, a timeout or a 503,
    until it gets 201 (as a POS does; an identical re-post is idempotent). Anything else (4xx,
    500) is a bug: it is recorded and the till moves on. ``limit``: stop after that many
    invoices in all; otherwise until ``stop()``."""

    def __init__(self, base_url: str, count: int, prefix: str, *, limit: int | None = None,
                 seed: int = 0):
        self.url = f"{base_url}/api/invoice"
        self.count = count
        self.prefix = prefix
        self.limit = limit
        self.acknowledged: dict[str, float] = {}  # invoice_no -> when the 201 arrived
        self.stats = [TillStats() for _ in range(count)]
        self._rng = random.Random(seed)
        self._started = 0
        self._stopping = False
        self._tasks: list[asyncio.Task] = []

    @property
    def total(self) -> TillStats:
        total = TillStats()
        for stats in self.stats:
            total.add(stats)
        return total

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._till(i), name=f"till-{i}")
                       for i in range(self.count)]

    def stop(self) -> None:
        """Each till finishes the invoice it is on (until 201), then stops."""
        self._stopping = True

    async def finished(self, timeout: float, what: str) -> None:
        done, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in done:
            task.result()  # a till's own bug surfaces here
        if pending:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            pytest.fail(f"{len(pending)} till(s) still had an invoice without a 201 after "
                        f"{timeout} s ({what}); stats: {self.total}")

    async def close(self) -> None:
        self.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _till(self, index: int) -> None:
        stats = self.stats[index]
        connector = aiohttp.TCPConnector(limit=1)  # one till, one connection (kept alive)
        async with aiohttp.ClientSession(connector=connector, timeout=POS_TIMEOUT) as http:
            number = 0
            while not self._stopping and (self.limit is None or self._started < self.limit):
                self._started += 1
                invoice_no = f"{self.prefix}{index:02d}-{number:06d}"
                number += 1
                await self._post_until_201(http, invoice_no, stats)

    async def _post_until_201(self, http: aiohttp.ClientSession, invoice_no: str,
                              stats: TillStats) -> None:
        body = invoice(invoice_no)
        while True:
            stats.posts += 1
            try:
                async with http.post(self.url, json=body) as response:
                    text = await response.text()
                    status = response.status
                    replayed = response.headers.get("Idempotent-Replayed") == "true"
            except (aiohttp.ClientError, OSError):
                stats.connection_errors += 1  # the service is down or was killed mid-answer
            except TimeoutError:
                stats.timeouts += 1
            else:
                if status == 201:
                    stats.acknowledged += 1
                    stats.replayed += replayed
                    self.acknowledged[invoice_no] = time.time()
                    return
                if status != 503:
                    stats.unexpected.append((invoice_no, status, text[:300]))
                    return
                stats.refused_503 += 1
            # A till's pause before posting again (not a wait for anything in the test).
            await asyncio.sleep(self._rng.uniform(0.02, 0.06))


# ---------------------------------------------------------------- a real `serve` process


def write_fast_config(data_dir: Path) -> None:
    """config.toml for tests: retries in fractions of a second (RetrySettings as in the
    integration tests), short upstream timeouts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.toml").write_text(
        "send_concurrency = 8\n"
        "connect_timeout = 2.0\n"
        "read_timeout = 5.0\n"
        "[retry]\n"
        "first_min = 0.05\n"
        "first_max = 0.1\n"
        "cap = 0.4\n", encoding="utf-8")


class ServeProcess:
    """`rims-utility serve` in its own process group (its writer process is in that group too),
    so one signal can take both down at once, as a power cut does."""

    def __init__(self, data_dir: Path, port: int, sandbox: KpraSandbox, log_path: Path):
        self.data_dir = data_dir
        self.port = port
        self.sandbox = sandbox
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.base_url = f"http://127.0.0.1:{port}"
        self.starts = 0

    async def start(self, timeout: float = 60.0, *, booting: bool = False) -> None:
        """Start and wait until it answers on its port; ``booting``: only until its writer
        process exists (it is still opening the database and recovering)."""
        assert self.process is None or self.process.poll() is not None
        command = [*CLI, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
                   "--upstream-url", self.sandbox.endpoint_url,
                   "--upstream-ca", str(self.sandbox.ca_file)]
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts + 1} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.starts += 1
        if booting:
            await wait_for(self._writer_spawned, timeout=timeout, interval=0.005,
                           what=f"serve (start {self.starts}) to start its writer process")
            return
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            await wait_for(lambda: self._answers(http), timeout=timeout, interval=0.05,
                           what=f"serve (start {self.starts}) to answer on port {self.port}")

    def _writer_spawned(self) -> bool:
        self._check_running()
        return any(_is_writer(_command(pid)) for pid in self.children())

    def _check_running(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"serve exited with code {self.process.returncode}:\n"
                        f"{self.log_tail()}")

    async def _answers(self, http: aiohttp.ClientSession) -> bool:
        self._check_running()
        try:
            async with http.get(f"{self.base_url}/") as response:
                return response.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def group(self) -> list[int]:
        """Live processes of the service's process group (the service and its writer)."""
        return [pid for pid, (pgid, state, _) in _processes().items()
                if pgid == self.pid and state not in "ZX"]

    def children(self) -> list[int]:
        return [pid for pid, (_, state, ppid) in _processes().items()
                if ppid == self.pid and state not in "ZX"]

    async def power_cut(self) -> int:
        """kill -9 the whole group at once (the service and its writer: what a power cut does).
        Returns how many processes died."""
        victims = self.group()
        assert self.pid in victims, f"serve {self.pid} is not running: {self.log_tail()}"
        os.killpg(self.pid, signal.SIGKILL)
        await asyncio.to_thread(self._reap)
        await wait_for(lambda: not self.group(), timeout=10,
                       what=f"every process of the killed service's group {victims} to be gone")
        return len(victims)

    async def kill_service_only(self) -> list[str]:
        """kill -9 the service but not its children (the writer process): they must notice and
        exit by themselves (the writer finishing the batch it holds). Returns what they were."""
        children = {pid: _command(pid) for pid in self.children()}
        assert any(_is_writer(command) for command in children.values()), (
            f"no writer process under serve {self.pid}: {children}")
        os.kill(self.pid, signal.SIGKILL)
        await asyncio.to_thread(self._reap)

        def survivors() -> dict[int, str]:
            alive = _processes()
            return {pid: command for pid, command in children.items()
                    if pid in alive and alive[pid][1] not in "ZX"}

        await wait_for(lambda: not survivors(), timeout=15,
                       what=f"the children of the killed service to exit: {children}")
        return sorted(children.values())

    async def kill_writer_only(self) -> int:
        """kill -9 the writer process alone: the service must start a new one and carry on.
        Returns the new writer's pid."""
        writers = [pid for pid in self.children() if _is_writer(_command(pid))]
        assert len(writers) == 1, f"expected one writer process under serve, found {writers}"
        os.kill(writers[0], signal.SIGKILL)

        def new_writer() -> int | None:
            self._check_running()
            fresh = [pid for pid in self.children()
                     if pid != writers[0] and _is_writer(_command(pid))]
            return fresh[0] if fresh else None

        return await wait_for(new_writer, timeout=30, interval=0.01,
                              what=f"serve to start a new writer after {writers[0]} was killed")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM (a clean stop) and its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not stop within {timeout} s of SIGTERM:\n{self.log_tail()}")

    def _reap(self) -> None:
        assert self.process is not None
        self.process.wait(10)

    def close(self) -> None:
        """Leave nothing of ours running (test teardown), orphans of the group included."""
        if self.process is None:
            return
        if self.process.poll() is not None and not self.group():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _is_writer(command: str) -> bool:
    """The database writer's command line: `python -m app _writer --fd N DATABASE`
    (app/store/worker_main.py)."""
    return " _writer --fd " in command


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "(gone)"


def _processes() -> dict[int, tuple[int, str, int]]:
    """pid -> (process group, state, parent pid), from /proc (Linux)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry.name)] = (int(fields[2]), fields[0], int(fields[1]))
    return found


# ---------------------------------------------------------------- reading the results


@dataclass
class DbInvoice:
    invoice_no: str
    state: str
    claims: int  # the `attempts` column: how many times it was claimed for sending
    ambiguous: bool
    transaction_id: str | None
    outcomes: list[str]


def read_database(path: Path) -> dict[str, DbInvoice]:
    """Every invoice of our POS and its attempts' outcomes, read-only (what is on disk)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        check = connection.execute("PRAGMA quick_check").fetchone()[0]
        assert check == "ok", f"database damaged: {check}"
        rows = connection.execute(
            "SELECT id, invoice_no, state, attempts, ambiguous, transaction_id FROM invoice "
            "WHERE pos_id = ?",
            (POS_ID,)).fetchall()
        outcomes: dict[int, list[str]] = {}
        for invoice_id, outcome in connection.execute(
                "SELECT invoice_id, outcome FROM attempt ORDER BY id"):
            outcomes.setdefault(invoice_id, []).append(outcome)
    finally:
        connection.close()
    return {number: DbInvoice(number, state, claims, bool(ambiguous), tid, outcomes.get(rid, []))
            for rid, number, state, claims, ambiguous, tid in rows}


def sandbox_timeline(sandbox: KpraSandbox) -> dict[str, tuple[int, int]]:
    """Per invoice of our POS, from the sandbox's books (records.jsonl, in arrival order):
    (requests before it was recorded, requests after it was recorded)."""
    path = sandbox.data_dir / "records.jsonl"
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    recorded: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("pos_id") != POS_ID:
            continue
        number = event["invoice_no"]
        if event["event"] == "record":
            recorded.add(number)
        elif event["event"] == "request":
            (after if number in recorded else before)[number] += 1
    return {n: (before[n], after[n]) for n in set(before) | set(after)}


@dataclass
class Audit:
    """What the end state says about every acknowledged invoice."""

    acknowledged: int
    sends: Counter[int]  # sends per invoice -> how many invoices
    outcomes: Counter[str]  # every attempt's outcome, over all invoices
    resent_after_ambiguous: int
    resent_after_retry_later: int
    # Synced through KPRA's "duplicate" answer, which carries no transaction id (the sandbox,
    # like the live API as far as we know, names none): the utility cannot show one.
    without_transaction_id: int
    problems: list[str]

    def histogram_rows(self) -> list[tuple[int, int]]:
        return sorted(self.sends.items())


def audit(acknowledged: Iterable[str], database: dict[str, DbInvoice], sandbox: KpraSandbox,
          *, resend_after: frozenset[str] = AMBIGUOUS) -> Audit:
    """Every acknowledged invoice synced, at KPRA once (recorded), and sent more than once only
    after an attempt whose outcome is in ``resend_after`` (AMBIGUOUS when KPRA never says "not
    now"; INCONCLUSIVE when it may answer 429). Whatever that set: once KPRA has recorded an
    invoice, it is sent again only if a send of it was ambiguous (the sandbox's books tell
    which requests came after the record)."""
    acknowledged = sorted(acknowledged)
    records = sandbox.records()
    timeline = sandbox_timeline(sandbox)
    problems: list[str] = []
    sends: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    after_ambiguous = after_retry_later = without_tid = 0
    for number in acknowledged:
        row = database.get(number)
        if row is None:
            problems.append(f"{number}: acknowledged but not in the database (LOST)")
            continue
        outcomes.update(row.outcomes)
        if row.state != "synced":
            problems.append(f"{number}: {row.state}, not synced; attempts {row.outcomes}")
        elif row.transaction_id is None:
            without_tid += 1
        record = records.get((POS_ID, number))
        if record is None:
            problems.append(f"{number}: not recorded by the sandbox; attempts {row.outcomes}")
            continue
        count = record.received_count
        sends[count] += 1
        ambiguous = sum(o in AMBIGUOUS for o in row.outcomes)
        allowed = sum(o in resend_after for o in row.outcomes)
        if count > len(row.outcomes):
            problems.append(f"{number}: reached the sandbox {count} times but the utility "
                            f"recorded only {len(row.outcomes)} attempt(s) {row.outcomes}")
        if count > 1 and allowed == 0:
            problems.append(f"{number}: sent {count} times without an ambiguous attempt "
                            f"{row.outcomes}")
        if count > 1 + allowed:
            problems.append(f"{number}: sent {count} times after only {allowed} "
                            f"inconclusive attempt(s) {row.outcomes}")
        if count > 1:
            if ambiguous:
                after_ambiguous += 1
            else:
                after_retry_later += 1
        _, late = timeline.get(number, (0, 0))
        if late and not ambiguous:
            problems.append(f"{number}: reached the sandbox {late} time(s) after it was recorded "
                            f"although no attempt was ambiguous {row.outcomes}")
        if row.outcomes.count("accepted") + row.outcomes.count("already_recorded") != 1:
            problems.append(f"{number}: not exactly one successful attempt {row.outcomes}")
        elif row.transaction_id is not None and row.transaction_id != str(record.transaction_id):
            problems.append(f"{number}: transaction id {row.transaction_id} in the utility, "
                            f"{record.transaction_id} at KPRA")
    strangers = set(database) - set(acknowledged)
    if strangers:
        problems.append(f"{len(strangers)} invoice(s) in the database that no till got a 201 "
                        f"for, e.g. {sorted(strangers)[:5]}")
    return Audit(len(acknowledged), sends, outcomes, after_ambiguous, after_retry_later,
                 without_tid, problems)


def histogram_table(sends: Counter[int]) -> list[str]:
    total = sum(sends.values()) or 1
    lines = ["| upstream sends per invoice | invoices | share |", "|---:|---:|---:|"]
    for count, invoices in sorted(sends.items()):
        lines.append(f"| {count} | {invoices} | {100 * invoices / total:.2f} % |")
    return lines


def write_figures(name: str, figures: dict) -> None:
    """docs/reliability-last-run.json, one key per test (long mode only), for
    docs/RELIABILITY.md."""
    path = REPO / "docs" / "reliability-last-run.json"
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = {}
    current[name] = {"finished_at": time.strftime("%Y-%m-%d %H:%M:%S"), **figures}
    path.write_text(json.dumps(current, indent=1) + "\n", encoding="utf-8")
