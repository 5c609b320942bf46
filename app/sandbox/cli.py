"""`rims-utility sandbox kpra` and `sandbox kra-agent`: run a sandbox in the foreground until stopped.

Prints where to send invoices, where the control routes are and which CA to trust, so a
shopkeeper (practice mode) or a developer can point the utility at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from app.sandbox.kpra import KpraSandbox
from app.sandbox.kra_agent import DEFAULT_EMAIL, DEFAULT_PASSWORD, KraAgentSandbox


async def run_kpra_sandbox(
    port: int, http_port: int | None, data_dir: Path, host: str = "127.0.0.1"
) -> None:
    """Serve until cancelled, SIGINT or SIGTERM; `http_port=None` picks a free port."""
    sandbox = KpraSandbox(Path(data_dir))
    await sandbox.start(host=host, port=port, http_port=http_port or 0)
    try:
        print(f"KPRA sandbox endpoint (HTTPS): {sandbox.endpoint_url}", flush=True)
        print(f"Sandbox control (HTTP): {sandbox.control_url}", flush=True)
        print(f"CA certificate to trust: {sandbox.ca_file}", flush=True)
        await _until_signalled()
    finally:
        await sandbox.stop()


async def run_kra_agent_sandbox(
    port: int, http_port: int | None, data_dir: Path, host: str = "127.0.0.1"
) -> None:
    """`rims-utility sandbox kra-agent`: serve the KRA Agent sandbox until cancelled, SIGINT or
    SIGTERM; `http_port=None` picks a free port."""
    sandbox = KraAgentSandbox(Path(data_dir))
    await sandbox.start(host=host, port=port, http_port=http_port or 0)
    try:
        print(f"KRA Agent sandbox API (HTTPS): {sandbox.base_url}", flush=True)
        print(f"Sandbox control (HTTP): {sandbox.control_url}", flush=True)
        print(f"CA certificate to trust: {sandbox.ca_file}", flush=True)
        print(f"Test account: {DEFAULT_EMAIL} / {DEFAULT_PASSWORD}", flush=True)
        await _until_signalled()
    finally:
        await sandbox.stop()


async def _until_signalled() -> None:
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

