"""What the three sandbox test modules share: a client that verifies the sandbox's HTTPS, a
sandbox started for one test body, an outage and its end, and the `rims-utility sandbox …`
commands run as tasks."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from app.sandbox.server import SandboxServer

S = TypeVar("S", bound=SandboxServer)
R = TypeVar("R")


def client_ssl(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts only the sandbox CA; hostname checks stay on."""
    context = ssl.create_default_context(cafile=str(ca_file))
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    return context


@contextlib.asynccontextmanager
async def session_for(sandbox: SandboxServer) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTPS-verifying session, a new connection per request."""
    connector = aiohttp.TCPConnector(ssl=client_ssl(sandbox.ca_file), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def run_sandbox(kind: type[S], data_dir: Path,
                body: Callable[[S, aiohttp.ClientSession], Awaitable[None]], **kwargs: Any) -> None:
    """Start a `kind` sandbox in `data_dir` and a session for it, run `body`, clean up (in an
    event loop of the test's own)."""

    async def main() -> None:
        async with kind(data_dir, **kwargs) as sandbox, session_for(sandbox) as session:
            await body(sandbox, session)

    asyncio.run(main())


async def start_command(command: Coroutine[Any, Any, None], lines: int,
                        capsys: pytest.CaptureFixture[str]) -> tuple[asyncio.Task[None], list[str]]:
    """Run a `run_*_sandbox` command as a task until it has printed `lines` lines (or ended,
    or 5 s passed); the task and what each line says after its "label: "."""
    task = asyncio.create_task(command)
    out = ""
    for _ in range(100):
        await asyncio.sleep(0.05)
        out += capsys.readouterr().out
        if out.count("\n") >= lines or task.done():
            break
    return task, [line.split(": ", 1)[1] for line in out.splitlines()]


async def cancel_command(task: asyncio.Task[None]) -> None:
    """Cancel a command started with `start_command`: it stops (and says so by being cancelled)."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def down_and_back(sandbox: SandboxServer, session: aiohttp.ClientSession,
                        request: Callable[[], Awaitable[R]]) -> tuple[R, R]:
    """An outage refuses connections and ends on the same port: once through the Python API
    (`set_down`), once through the control port (POST /down, then POST /faults {"reset"}).
    `request()` sends one API request; what it got after each outage ended."""
    port = sandbox.https_port
    await sandbox.set_down(True)
    with pytest.raises(aiohttp.ClientConnectorError):
        await request()
    await sandbox.set_down(False)
    assert sandbox.https_port == port
    first = await request()
    async with session.post(f"{sandbox.control_url}/down", json={"down": True}) as response:
        assert await response.json() == {"down": True}
    with pytest.raises(aiohttp.ClientConnectorError):
        await request()
    async with session.post(f"{sandbox.control_url}/faults", json={"reset": True}) as response:
        assert (await response.json())["down"] is False
    return first, await request()
