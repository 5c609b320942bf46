"""The single writer: every database write goes through one thread, and whatever arrived while
the previous transaction was being flushed to disk is committed together (group commit).
Each caller's future is resolved only after the transaction holding its write has committed."""

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import peewee

log = logging.getLogger(__name__)

MAX_BATCH = 512


class StorageUnavailable(RuntimeError):
    """The disk did not take the write (full, read-only, I/O error). Nothing was saved."""


@dataclass
class _Op:
    fn: Callable[..., Any]
    args: tuple
    future: asyncio.Future
    batched: bool = False  # fn takes a list of args and returns a list of results
    result: Any = field(default=None)
    error: BaseException | None = None


_STOP = object()


class Writer:
    def __init__(self, database: peewee.SqliteDatabase, loop: asyncio.AbstractEventLoop):
        self._db = database
        self._loop = loop
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="rims-db-writer", daemon=True)
        self.batches = 0  # statistics for the benchmark and health
        self.writes = 0

    def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        """Finish every write already submitted, then end the thread."""
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        if self.batches:
            log.info("database writer: %d writes in %d commits (%.1f per commit)",
                     self.writes, self.batches, self.writes / self.batches)

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run ``fn(*args)`` inside the next transaction; the future resolves after commit."""
        future = self._loop.create_future()
        self._queue.put(_Op(fn, args, future))
        return future

    def submit_batched(self, fn: Callable[[list], list], item: Any) -> asyncio.Future:
        """Like submit, but every pending op of the same ``fn`` is handed over as one list."""
        future = self._loop.create_future()
        self._queue.put(_Op(fn, (item,), future, batched=True))
        return future

    # ------------------------------------------------------------ writer thread

    def _run(self) -> None:
        with self._db.connection_context():
            stopping = False
            while not stopping:
                ops = [self._queue.get()]
                while len(ops) < MAX_BATCH:
                    try:
                        ops.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if _STOP in ops:
                    stopping = True
                    ops = [op for op in ops if op is not _STOP]
                if ops:
                    self._commit(ops)

    def _commit(self, ops: list[_Op]) -> None:
        try:
            with self._db.atomic():
                self._apply(ops)
        except (sqlite3.Error, peewee.DatabaseError, OSError) as why:
            why = _original(why)
            log.error("database write failed, %d request(s) answered 503: %s", len(ops), why)
            failure = StorageUnavailable(_describe(why))
            for op in ops:
                op.error, op.result = failure, None
        except Exception as why:  # a bug must not kill the only writer; the callers see it
            log.exception("database write failed unexpectedly; transaction rolled back")
            for op in ops:
                op.error, op.result = why, None
        else:
            self.batches += 1
            self.writes += len(ops)
        self._loop.call_soon_threadsafe(_resolve, ops)

    def _apply(self, ops: list[_Op]) -> None:
        groups: dict[Callable, list[_Op]] = {}
        for op in ops:
            if op.batched:
                groups.setdefault(op.fn, []).append(op)
        for fn, members in groups.items():
            results = fn([op.args[0] for op in members])
            for op, result in zip(members, results, strict=True):
                op.result = result
        for op in ops:
            if op.batched:
                continue
            try:
                with self._db.atomic():  # a savepoint: one failing op does not spoil the rest
                    op.result = op.fn(*op.args)
            except (sqlite3.OperationalError, peewee.OperationalError):
                raise  # disk/lock trouble concerns the whole transaction
            except Exception as why:
                op.error = why


def _resolve(ops: list[_Op]) -> None:
    for op in ops:
        if op.future.done():  # the caller gave up waiting (e.g. client went away)
            continue
        if op.error is not None:
            op.future.set_exception(op.error)
        else:
            op.future.set_result(op.result)


def _original(why: BaseException) -> BaseException:
    """On SQLITE_FULL / I/O errors SQLite rolls back by itself, so the rollback that follows
    fails with "no transaction is active" and hides the real cause: walk back to it."""
    while "no transaction is active" in str(why) and why.__context__ is not None:
        why = why.__context__
    return why


def _describe(why: BaseException) -> str:
    text = str(why).lower()
    if "full" in text or "no space" in text:
        return "the disk is full"
    if "readonly" in text or "read-only" in text or "permission" in text:
        return "the data folder is not writable"
    if "locked" in text or "busy" in text:
        return "the database is busy"
    return "the database could not be written"
