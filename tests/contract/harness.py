"""The utility as the contract tests drive it, and the secrets check they end with."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from app.service.core import Core
from tests.conftest import wait_for
from tests.contract.upstreams import Upstream


class Running:
    """The utility (a real Core: aiohttp on 127.0.0.1, SQLite, the writer process, the OS
    keyring) and a till's HTTP client."""

    def __init__(self, upstream: Upstream, sandbox: Any, data_dir: Path, **changes: object):
        self.upstream, self.sandbox, self.data_dir, self.changes = (
            upstream, sandbox, data_dir, changes)
        self.core: Core | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> Running:
        self.core = Core(self.upstream.settings(self.data_dir, self.sandbox, **self.changes))
        await self.core.start()
        self.http = aiohttp.ClientSession(base_url=self.core.base_url)
        return self

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.core is not None:
            await self.core.stop()
        self.http = self.core = None

    async def sell(self, number: str) -> None:
        assert self.http is not None
        async with self.http.post("/api/invoice", json=self.upstream.sale(number)) as response:
            body = await response.json()
            assert response.status == 201, body

    async def status_of(self, number: str) -> dict:
        assert self.http is not None
        path = f"/api/invoices/{quote(self.upstream.pos_id, safe='')}/{quote(number, safe='')}"
        async with self.http.get(path) as response:
            return (await response.json()).get("data") or {}

    async def state_is(self, number: str, *states: str) -> dict | None:
        data = await self.status_of(number)
        return data if data.get("state") in states else None

    async def synced(self, number: str, timeout: float = 30) -> dict:
        return await wait_for(lambda: self.state_is(number, "synced"), timeout=timeout,
                              what=f"{self.upstream.name}: {number} synced")

    async def health(self) -> dict:
        assert self.http is not None
        async with self.http.get("/api/health") as response:
            return (await response.json())["data"]


def assert_no_secret_in(folder: Path, secrets: list[str]) -> None:
    """No key, token or password in the database, the logs, the config or anything else the
    utility wrote (they belong in the OS keyring only)."""
    assert secrets, "the test knows the secrets it looks for"
    leaks = sorted({f"{path.relative_to(folder)}" for path in folder.rglob("*") if path.is_file()
                    for secret in secrets if secret.encode() in path.read_bytes()})
    assert leaks == [], f"a secret is written in {leaks}"
