"""Shared test helpers. Our own components are real; only the authority is a sandbox."""

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import pytest

# Tests must never write into the developer's real data folder.
os.environ.pop("RIMS_DATA_DIR", None)

_FIGURES = pytest.StashKey[list[str]]()


def add_figures(config: pytest.Config, *lines: str) -> None:
    """Lines for the "figures" section printed at the end of the run (pytest captures test
    output; this shows in CI logs without -s). Long modes report their figures this way."""
    config.stash.setdefault(_FIGURES, []).extend(lines)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(_FIGURES, [])
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)


async def wait_for(condition: Callable[[], Awaitable[object] | object], *, timeout: float = 20.0,
                   what: str = "condition", interval: float = 0.02) -> object:
    """Poll until ``condition()`` is truthy; fail saying what never happened (no sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = condition()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last value: {last!r})")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cycles", type=int, default=None, metavar="N",
        help="crash harness (tests/reliability): long mode with N kill -9 / restart cycles "
             "(e.g. 50), and 10,000 invoices under upstream chaos (CI: 2,000); writes "
             "docs/reliability-last-run.json. "
             "Default: the short CI mode.")
    parser.addoption(
        "--fuzz-examples", type=int, default=None, metavar="N",
        help="schemathesis (tests/integration/test_openapi_fuzz.py): N generated requests per "
             "operation and generation mode (e.g. 5000, with --timeout 0). Default: the short CI "
             "mode (40).")
