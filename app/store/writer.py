"""The single writer, seen from the service: every database write is sent to the writer process
(store/worker.py), which prepares it, commits whatever has arrived in one transaction (group
commit) and answers after the commit. Each caller's future is resolved only then.

The process is reached over a socket pair driven by the service's own event loop: the writes
submitted during one turn of the loop leave as one message, without waiting for earlier answers
(so the next batch is already there when the current one has been flushed to disk), and answers
resolve their futures directly. No thread hand-offs on the way.

If the process dies, the writes it had not answered fail with StorageUnavailable (the POS hears
503 and sends again; its retry is idempotent) and a new process is started. If the service dies,
the process sees its socket close, commits what it had and exits.

How the process is started:

- Linux, macOS: this program started again with a hidden command (app/relaunch.py and
  store/worker_main.py: ``python -m app _writer --fd N DATABASE``, frozen ``rims-utility _writer
  …``), its end of the socket pair passed as file descriptor N. It imports only what the writes
  need. (multiprocessing's "spawn" would also start its resource tracker, a third process of
  ~13 MB RSS that the writer never needs, and import the main module again in the writer.)
- Windows: multiprocessing's "spawn" (no file descriptors to pass there; multiprocessing hands the
  socket over with ``socket.share``, and there is no resource tracker). Programs that embed the
  service must guard their entry point with ``if __name__ == "__main__":`` there, since "spawn"
  imports the main module again; the frozen program's ``freeze_support()`` runs first thing in
  app/__main__.py."""

import asyncio
import contextlib
import logging
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from app import relaunch
from app.store import worker
from app.store.worker import HEADER, Op, StorageUnavailable

__all__ = ["StorageUnavailable", "Writer", "WriterStartError"]

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # a cold start on a slow shop PC (antivirus scanning the executable)
STOP_TIMEOUT = 30.0


class WriterStartError(RuntimeError):
    """The writer process could not open the database."""


class _Process(Protocol):
    """The writer process as this module uses it: a multiprocessing.Process (Windows) or a
    _Child (elsewhere)."""

    @property
    def pid(self) -> int | None: ...

    @property
    def exitcode(self) -> int | None: ...

    def join(self, timeout: float | None = None) -> None: ...

    def is_alive(self) -> bool: ...

    def kill(self) -> None: ...

    def close(self) -> None: ...


class _Child:
    """A writer process started with subprocess.Popen, seen through multiprocessing.Process's
    methods (exitcode: None while it runs, -N when signal N ended it)."""

    def __init__(self, popen: subprocess.Popen):
        self._popen = popen

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def kill(self) -> None:
        self._popen.kill()  # (does nothing once it has been waited for)

    def close(self) -> None:
        pass


class Writer:
    """Use from the event loop thread only."""

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop):
        self._path = path
        self._loop = loop
        self._process: _Process | None = None
        self._transport: asyncio.Transport | None = None
        self._closed: asyncio.Future | None = None  # resolves when the socket closes
        self._outbox: list[Op] = []  # submitted, not yet sent
        self._in_flight: dict[int, asyncio.Future] = {}  # sent, not yet answered
        self._flush_scheduled = False
        self._context: dict[str, Any] = {}
        self._context_sent = True
        self._next_id = 0
        self._stopping = False
        self._restarting: asyncio.Task | None = None
        self.batches = 0  # statistics for the benchmark and health
        self.writes = 0
        self.restarts = 0

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Start the writer process and wait until it has the database open."""
        process, sock = await asyncio.to_thread(self._spawn)
        await self._attach(process, sock)

    async def stop(self) -> None:
        """Finish every write already submitted, then end the process."""
        self._stopping = True
        if self._restarting is not None:
            await asyncio.gather(self._restarting, return_exceptions=True)
        self._flush()
        if self._transport is not None:
            self._transport.write(HEADER.pack(len(worker.STOP)) + worker.STOP)
            assert self._closed is not None
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), STOP_TIMEOUT)
            except TimeoutError:
                log.error("database writer did not stop in time; ending it")
                self._transport.abort()
        if self._process is not None:
            await asyncio.to_thread(_end, self._process)
        self._fail_in_flight(StorageUnavailable("the utility is stopping"))
        if self.batches:
            log.info("database writer: %d writes in %d commits (%.1f per commit)",
                     self.writes, self.batches, self.writes / self.batches)

    @property
    def in_flight(self) -> int:
        """Writes sent to the process and not answered yet."""
        return len(self._in_flight) - len(self._outbox)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _spawn(self) -> tuple[_Process, socket.socket]:
        """Start the process and wait for it to report (blocking: runs in a worker thread)."""
        ours, theirs = socket.socketpair()
        try:
            process = _start_process(str(self._path), theirs)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the process has its own copy: EOF here once it is gone
        ours.settimeout(START_TIMEOUT)
        try:
            status, detail = pickle.loads(worker.read_message(ours.makefile("rb")))
        except (EOFError, OSError) as why:
            process.kill()
            process.join(5)
            ours.close()
            reason = why or f"it exited with code {process.exitcode}"
            raise WriterStartError(f"the database writer process did not start ({reason})"
                                   ) from None
        if status != "ready":
            process.join(5)
            ours.close()
            raise WriterStartError(f"the database writer could not open {self._path}: {detail}")
        ours.setblocking(False)
        return process, ours

    async def _attach(self, process: _Process, sock: socket.socket) -> None:
        self._closed = self._loop.create_future()
        transport, _ = await self._loop.create_connection(
            lambda: _Channel(self._on_message, self._on_closed), sock=sock)
        self._process, self._transport = process, transport  # type: ignore[assignment]
        self._context_sent = False
        self._schedule_flush()

    # ------------------------------------------------------------ submitting

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run ``fn(db, *args)`` inside the next transaction; the future resolves after commit.
        ``fn`` must be a module-level function (it is sent to the writer process by name)."""
        return self._queue(fn, args, False, None)

    def submit_batched(self, fn: Callable[..., list], item: Any,
                       prepare: Callable[..., tuple] | None = None) -> asyncio.Future:
        """Like submit, but every pending op of the same ``fn`` is handed over as one list.
        ``prepare(context, item) -> (item,)`` runs first, as soon as the process receives it."""
        return self._queue(fn, (item,), True, prepare)

    def set_context(self, **values: Any) -> None:
        """Values ``prepare`` steps receive; in effect for every write submitted after this."""
        self._flush()  # what was submitted before goes out with the old context
        self._context = {**self._context, **values}
        self._context_sent = False
        self._schedule_flush()

    def _queue(self, fn: Callable[..., Any], args: tuple, batched: bool,
               prepare: Callable[..., tuple] | None) -> asyncio.Future:
        future = self._loop.create_future()
        if self._stopping:
            future.set_exception(StorageUnavailable("the utility is stopping"))
            return future
        self._next_id += 1
        self._outbox.append((self._next_id, fn, args, batched, prepare))
        self._in_flight[self._next_id] = future
        self._schedule_flush()  # once per turn of the loop: one message for all of them
        return future

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Send everything submitted since the last flush as one message."""
        self._flush_scheduled = False
        if self._transport is None:  # (re)starting: sent once the process is there
            return
        if not self._outbox and self._context_sent:
            return
        ops, self._outbox = self._outbox, []
        try:
            data = pickle.dumps((None if self._context_sent else self._context, ops),
                                pickle.HIGHEST_PROTOCOL)
        except Exception as why:  # e.g. an argument that cannot be sent to another process
            log.exception("database write could not be sent to the writer")
            for op in ops:
                _settle(self._in_flight.pop(op[0]), why, None)
            return
        self._transport.write(HEADER.pack(len(data)) + data)
        self._context_sent = True

    # ------------------------------------------------------------ answers

    def _on_message(self, data: bytes) -> None:
        results, problem = pickle.loads(data)  # see worker.py for the format
        if problem:
            log.error("%s", problem)
        else:
            self.batches += 1
            self.writes += len(results)
        for op_id, error, result in results:
            future = self._in_flight.pop(op_id, None)
            if future is not None:
                _settle(future, error, result)

    def _on_closed(self) -> None:
        self._transport = None
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        if self._stopping:
            return
        exit_code = self._process.exitcode if self._process is not None else None
        unsent = {op[0] for op in self._outbox}  # kept for the next process
        lost = [op_id for op_id in self._in_flight if op_id not in unsent]
        log.error("database writer process stopped (exit code %s); %d write(s) not confirmed",
                  exit_code, len(lost))
        for op_id in lost:
            _settle(self._in_flight.pop(op_id),
                    StorageUnavailable("the database writer stopped; nothing was confirmed"), None)
        self._restarting = asyncio.ensure_future(self._restart())

    def _fail_in_flight(self, error: BaseException) -> None:
        in_flight, self._in_flight, self._outbox = self._in_flight, {}, []
        for future in in_flight.values():
            _settle(future, error, None)

    async def _restart(self) -> None:
        process = self._process
        if process is not None:
            await asyncio.to_thread(_end, process)
        self._process = None
        self.restarts += 1
        log.warning("starting the database writer process again")
        try:
            await self.start()
        except (WriterStartError, OSError) as why:
            log.error("%s", why)
            self._fail_in_flight(StorageUnavailable("the database writer could not be started"))
        finally:
            self._restarting = None


class _Channel(asyncio.Protocol):
    """Splits the byte stream from the writer process into messages."""

    def __init__(self, on_message: Callable[[bytes], None], on_closed: Callable[[], None]):
        self._on_message, self._on_closed = on_message, on_closed
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= HEADER.size:
            size = HEADER.unpack_from(buffer, start)[0]
            end = start + HEADER.size + size
            if len(buffer) < end:
                break
            self._on_message(bytes(buffer[start + HEADER.size:end]))
            start = end
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_closed()


def _settle(future: asyncio.Future, error: BaseException | None, result: Any) -> None:
    if future.done():  # the caller gave up waiting (e.g. the client went away)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _start_process(database: str, theirs: socket.socket) -> _Process:
    """Start a writer process on ``database`` with ``theirs`` as its end of the socket pair.
    Never a fork: the service already runs threads."""
    if sys.platform == "win32":
        import multiprocessing  # only here: elsewhere it would bring its resource tracker

        process = multiprocessing.get_context("spawn").Process(
            target=worker.main, args=(database, theirs), name="rims-db-writer", daemon=True)
        process.start()
        return process
    fd = theirs.fileno()
    return _Child(subprocess.Popen(relaunch.command(relaunch.WRITER, "--fd", str(fd), database),
                                   pass_fds=(fd,), stdin=subprocess.DEVNULL,
                                   env=relaunch.environment()))


def _end(process: _Process) -> None:
    process.join(STOP_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join(5)
    with contextlib.suppress(ValueError):
        process.close()
