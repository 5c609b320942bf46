"""The writer process: the only place the database is written (see README, "Architecture").

One thread does everything, in a loop: take every message that has arrived on the socket since
the last round (the socket's buffer is the queue: while SQLite flushes a batch to disk, the next
one piles up there), prepare each operation (for a POS post: parse, validate, authenticate, build
the row), apply them all in ONE transaction (group commit) and only then send the answers back.
(An earlier version had a second thread receiving; the two only fought over this process's
interpreter lock, and the hand-off between them cost more than it saved.)

Operations are module-level functions (sent by name), called as ``fn(db, *args)``; batched ones
as ``fn(db, [item, …])`` with every pending item of the same function. An op with a
``prepare(context, *args) -> args`` step gets the service's context (e.g. the POS credentials)
and runs just before the transaction.
The worker never logs: what went wrong travels back with the answer and the service logs it.

Messages are pickled plain tuples (a named tuple costs ten times more to pickle):

- service → worker: ``(context or None, [(id, fn, args, batched, prepare), …])``, or STOP;
  a context replaces the worker's own before these operations are prepared;
- worker → service: ``([(id, error or None, result), …], problem or None)``, where problem is
  what the service should log (e.g. a failed commit)."""

import contextlib
import pickle
import select
import signal
import socket
import sqlite3
import struct
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee

from app.store.database import connect

STOP = b"stop"
HEADER = struct.Struct("!I")  # every message on the socket: its length, then the bytes


class StorageUnavailable(RuntimeError):
    """The disk did not take the write (full, read-only, I/O error). Nothing was saved."""


# One operation as sent: (id, fn, args, batched, prepare). Prepared: (id, fn, args, batched,
# error), where error is what the prepare step raised (then there is no write; it is the answer).
Op = tuple[int, Callable[..., Any], tuple, bool, Callable[..., tuple] | None]
Prepared = tuple[int, Callable[..., Any], tuple, bool, BaseException | None]
Reply = tuple[list[tuple[int, BaseException | None, Any]], str | None]


def send_message(sock: socket.socket, data: bytes) -> None:
    sock.sendall(HEADER.pack(len(data)) + data)


def read_message(stream: Any) -> bytes:
    """The next message from a buffered reader over the socket; EOFError when it is closed."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    size = HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def main(path: str, connection: socket.socket) -> None:
    """Entry point of the writer process; ``connection`` is its end of a socket pair."""
    # Ctrl+C in a terminal reaches the whole process group, and so does a SIGTERM sent to the
    # group (a service manager stopping it, `kill -TERM -PGID`): the service decides when we
    # stop (it sends STOP after the last write), so a half-finished batch is never abandoned.
    # Should the service die instead, the socket closes and we stop then.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        database = connect(Path(path))
        database.connect()
    except Exception as why:  # reported to the service, which refuses to start
        send_message(connection, pickle.dumps(("failed", f"{type(why).__name__}: {why}")))
        return
    send_message(connection, pickle.dumps(("ready", None)))
    try:
        _serve(database, _Inbox(connection), connection)
    finally:
        database.close()


class _Inbox:
    """The messages the service has sent, read from the socket without ever splitting one."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._buffer = bytearray()
        self.closed = False  # the service closed its end (or died)

    def take(self) -> list[bytes]:
        """Every complete message that has arrived, waiting for at least one (or the end)."""
        while not self.closed:
            self._receive()
            while not self.closed and select.select([self._sock], [], [], 0)[0]:
                self._receive()
            messages = self._split()
            if messages:
                return messages
        return []

    def _receive(self) -> None:
        try:
            chunk = self._sock.recv(1 << 18)
        except OSError:  # the service is gone (even killed): nothing to answer
            chunk = b""
        if chunk:
            self._buffer += chunk
        else:
            self.closed = True

    def _split(self) -> list[bytes]:
        buffer, start, messages = self._buffer, 0, []
        while len(buffer) - start >= HEADER.size:
            end = start + HEADER.size + HEADER.unpack_from(buffer, start)[0]
            if len(buffer) < end:
                break
            messages.append(bytes(buffer[start + HEADER.size:end]))
            start = end
        del buffer[:start]
        return messages


def _serve(database: peewee.SqliteDatabase, inbox: _Inbox, connection: socket.socket) -> None:
    context: dict[str, Any] = {}
    while True:
        items: list[Prepared] = []
        ending = False
        for message in inbox.take():
            if message == STOP:
                ending = True  # nothing follows STOP
                break
            new_context, ops = pickle.loads(message)
            if new_context is not None:
                context = new_context
            items.extend([_prepare(op, context) for op in ops])
        ending = ending or inbox.closed  # still commit what arrived: it may have been promised
        if items:
            reply = run_batch(database, items)
            try:
                data = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
            except Exception as why:  # an op returned something that cannot be sent
                failure = RuntimeError(f"writer result could not be sent back: {why}")
                data = pickle.dumps(([(p[0], failure, None) for p in items],
                                     traceback.format_exc()))
            with contextlib.suppress(OSError):  # the service is gone: keep what it sent
                send_message(connection, data)
        if ending:
            return


def _prepare(op: Op, context: dict[str, Any]) -> Prepared:
    op_id, fn, args, batched, prepare = op
    if prepare is None:
        return op_id, fn, args, batched, None
    try:
        return op_id, fn, prepare(context, *args), batched, None
    except Exception as why:  # handed back to the caller
        return op_id, fn, args, batched, _picklable(why)


def run_batch(database: peewee.SqliteDatabase, items: list[Prepared]) -> Reply:
    """Apply every op in one transaction. A failing op is rolled back alone (savepoint); a
    failing commit (disk full, I/O error) fails them all."""
    results: dict[int, list[Any]] = {item[0]: [item[4], None] for item in items}
    ready = [item for item in items if item[4] is None]
    try:
        with database.atomic():
            _apply(database, ready, results)
    except (sqlite3.Error, peewee.DatabaseError, OSError) as why:
        why = _original(why)
        failure = StorageUnavailable(_describe(why))
        return ([(item[0], item[4] or failure, None) for item in items],
                f"database write failed, {len(ready)} operation(s) not saved: {why}")
    except Exception as why:  # a bug must not kill the only writer
        failure = RuntimeError(f"database write failed unexpectedly: {why}")
        return ([(item[0], item[4] or failure, None) for item in items],
                "database write failed unexpectedly; transaction rolled back\n"
                + traceback.format_exc())
    return [(op_id, error, result) for op_id, (error, result) in results.items()], None


def _apply(database: peewee.SqliteDatabase, items: list[Prepared],
           results: dict[int, list[Any]]) -> None:
    groups: dict[Callable, list[Prepared]] = {}
    for item in items:
        if item[3]:  # batched
            groups.setdefault(item[1], []).append(item)
    for fn, members in groups.items():
        answers = fn(database, [member[2][0] for member in members])
        for member, answer in zip(members, answers, strict=True):
            results[member[0]][1] = answer
    for op_id, fn, args, batched, _ in items:
        if batched:
            continue
        try:
            with database.atomic():  # a savepoint: one failing op does not spoil the rest
                results[op_id][1] = fn(database, *args)
        except (sqlite3.OperationalError, peewee.OperationalError):
            raise  # disk/lock trouble concerns the whole transaction
        except Exception as why:  # handed back to the caller
            results[op_id][0] = _picklable(why)


def _picklable(why: Exception) -> Exception:
    why.__traceback__ = None  # tracebacks do not pickle
    try:
        pickle.loads(pickle.dumps(why))
    except Exception:
        return RuntimeError(f"{type(why).__name__}: {why}")
    return why


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
