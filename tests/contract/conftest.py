"""Fixtures of the contract tests: each test module says which authorities (``upstream``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.harness import Running, assert_no_secret_in
from tests.contract.upstreams import Upstream


@pytest.fixture
async def sandbox(upstream: Upstream, tmp_path: Path) -> AsyncIterator[Any]:
    box = await upstream.start_sandbox(tmp_path / "sandbox")
    yield box
    await box.stop()


@pytest.fixture
async def utility(upstream: Upstream, sandbox: Any, tmp_path: Path) -> AsyncIterator[Running]:
    """The utility set up with the sandbox as a shopkeeper would; afterwards, no secret may be
    in anything it wrote."""
    data_dir = tmp_path / "data"
    await upstream.configure(data_dir, sandbox)
    running = await Running(upstream, sandbox, data_dir, poll_interval=0.3).start()
    yield running
    await running.stop()
    assert_no_secret_in(data_dir, upstream.secrets())
    upstream.forget()
