"""`rims-utility sandbox kpra`, `sandbox kra-agent` and `sandbox protax`: run a sandbox in the
foreground until stopped.

Prints where to send invoices, where the control routes are and which CA to trust, so a
shopkeeper (practice mode) or a developer can point the utility at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path

from app.sandbox.kpra import KpraSandbox
from app.sandbox.kra_agent import DEFAULT_EMAIL, DEFAULT_PASSWORD, KraAgentSandbox
from app.sandbox.protax import DEFAULT_KEY, ProTaxSandbox
from app.sandbox.server import SandboxServer


async def run_kpra_sandbox(
    port: int, http_port: int | None, data_dir: Path, host: str = "127.0.0.1"
) -> None:
    """Serve until cancelled, SIGINT or SIGTERM; `http_port=None` picks a free port."""
    sandbox = KpraSandbox(Path(data_dir))
    await _serve(sandbox, host, port, http_port,
                 lambda: f"KPRA sandbox endpoint (HTTPS): {sandbox.endpoint_url}")


async def run_kra_agent_sandbox(
    port: int, http_port: int | None, data_dir: Path, host: str = "127.0.0.1"
) -> None:
    """`rims-utility sandbox kra-agent`: serve the KRA Agent sandbox until cancelled, SIGINT or
    SIGTERM; `http_port=None` picks a free port."""
    sandbox = KraAgentSandbox(Path(data_dir))
    await _serve(sandbox, host, port, http_port,
                 lambda: f"KRA Agent sandbox API (HTTPS): {sandbox.base_url}",
                 f"Test account: {DEFAULT_EMAIL} / {DEFAULT_PASSWORD}")


async def run_protax_sandbox(
    port: int, http_port: int | None, data_dir: Path, host: str = "127.0.0.1"
) -> None:
    """`rims-utility sandbox protax`: serve until cancelled, SIGINT or SIGTERM."""
    sandbox = ProTaxSandbox(Path(data_dir))
    await _serve(sandbox, host, port, http_port,
                 lambda: f"ProTax sandbox API (HTTPS): {sandbox.base_url}",
                 f"API key (X-API-Key): {DEFAULT_KEY}")


async def _serve(sandbox: SandboxServer, host: str, port: int, http_port: int | None,
                 api_line: Callable[[], str], *extra_lines: str) -> None:
    """Start `sandbox`, print where its API is (`api_line()`, once it listens), its control
    URL, the CA to trust and `extra_lines`; serve until signalled or cancelled, then stop."""
    await sandbox.start(host=host, port=port, http_port=http_port or 0)
    try:
        lines = [api_line(), f"Sandbox control (HTTP): {sandbox.control_url}",
                 f"CA certificate to trust: {sandbox.ca_file}", *extra_lines]
        for line in lines:
            print(line, flush=True)
        await until_signalled()
    finally:
        await sandbox.stop()


async def until_signalled() -> None:
    """Wait for SIGINT/SIGTERM where the loop supports handlers (not on Windows, where
    Ctrl+C reaches asyncio.run as a cancellation instead)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
