"""Reliability tests: crash/restart cycles against a real `serve` process, and a random upstream.

They run in the default suite in a short mode; `pytest --cycles 50 tests/reliability` is the long
mode. Each test leaves a summary that is printed at the end of the run (pytest captures test
output; this shows in CI logs without `-s`)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.sandbox.kpra import KpraSandbox
from tests.conftest import add_figures

SHORT_CYCLES = 5


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cycles = config.getoption("cycles")
    for item in items:
        if "tests/reliability/" not in item.nodeid.replace("\\", "/"):
            continue
        item.add_marker(pytest.mark.reliability)
        if cycles is not None:  # long mode: about 10 s a cycle on a slow machine, plus the rest
            item.add_marker(pytest.mark.timeout(300 + 15 * cycles))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: crash/restart and upstream chaos tests (tests/reliability)")


@pytest.fixture
def report(request: pytest.FixtureRequest):
    """report(*lines): shown in the terminal summary at the end of the run."""
    def add(*new: str) -> None:
        add_figures(request.config, *new)
        print(*new, sep="\n")  # also in the test's captured output if it fails

    return add


@pytest.fixture
def cycles(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("cycles") or SHORT_CYCLES


@pytest.fixture
def long_mode(request: pytest.FixtureRequest) -> bool:
    return request.config.getoption("cycles") is not None


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[KpraSandbox]:
    """The KPRA stand-in, in the test's own process: it lives through every kill of the
    utility."""
    box = KpraSandbox(tmp_path / "sandbox")
    await box.start()
    yield box
    await box.stop()
