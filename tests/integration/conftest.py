"""A real utility (aiohttp on 127.0.0.1, SQLite file, real keyring) talking to the KPRA sandbox
over real HTTPS, all on the test's event loop."""

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from app import keystore
from app.sandbox.kpra import KpraSandbox
from app.service.core import Core
from app.settings import RetrySettings, Settings, load
from app.store import repository
from app.store.database import open_database

NTN, POS_ID, KEY = "K123456", "K123456", "KPRA@123a"  # the seed's test user
FAST_RETRY = RetrySettings(first_min=0.05, first_max=0.1, cap=0.4)


def configure_pos(data_dir: Path, ntn: str = NTN, pos_id: str = POS_ID, key: str = KEY) -> None:
    """What `rims-utility setup` does: key into the OS keyring, POS into the database."""
    keystore.save_key("kpra", ntn, pos_id, key)
    database = open_database(data_dir / "rims.sqlite3")
    with database.connection_context(), database.atomic():
        repository.upsert_pos(database, ntn, pos_id)
        repository.release_pos(database, pos_id)
    database.close()


def utility_settings(data_dir: Path, sandbox: KpraSandbox, **changes: object) -> Settings:
    settings = load(data_dir, port=0, upstream_url=sandbox.endpoint_url,
                    upstream_ca=sandbox.ca_file)
    return dataclasses.replace(settings, retry=FAST_RETRY, **changes)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[KpraSandbox]:
    box = KpraSandbox(tmp_path / "sandbox")
    await box.start()
    yield box
    await box.stop()


class Utility:
    """A running Core plus an HTTP client pointed at it."""

    def __init__(self, data_dir: Path, sandbox: KpraSandbox, **changes: object):
        self.data_dir = data_dir
        self.sandbox = sandbox
        self.changes = changes
        self.core: Core | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> "Utility":
        self.core = Core(utility_settings(self.data_dir, self.sandbox, **self.changes))
        await self.core.start()
        self.http = aiohttp.ClientSession(base_url=self.core.base_url)
        return self

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.core is not None:
            await self.core.stop()
            self.core = None

    async def post(self, body: dict, *, form: bool = False) -> tuple[int, dict, dict]:
        assert self.http is not None
        kwargs = {"data": {k: str(v) for k, v in body.items()}} if form else {"json": body}
        async with self.http.post("/api/invoice", **kwargs) as response:
            return response.status, await response.json(), dict(response.headers)

    async def status_of(self, invoice_no: str, pos_id: str = POS_ID) -> dict:
        assert self.http is not None
        from urllib.parse import quote
        path = f"/api/invoices/{quote(pos_id, safe='')}/{quote(invoice_no, safe='/')}"
        async with self.http.get(path) as response:
            body = await response.json()
            return body.get("data") or {}

    async def state_of(self, invoice_no: str, pos_id: str = POS_ID) -> str | None:
        return (await self.status_of(invoice_no, pos_id)).get("state")

    async def health(self) -> dict:
        assert self.http is not None
        async with self.http.get("/api/health") as response:
            return (await response.json())["data"]


@pytest.fixture
async def utility(tmp_path: Path, sandbox: KpraSandbox) -> AsyncIterator[Utility]:
    data_dir = tmp_path / "data"
    configure_pos(data_dir)
    running = await Utility(data_dir, sandbox).start()
    yield running
    await running.stop()


def invoice(number: object, **changes: object) -> dict:
    body = {"ntn": NTN, "pos_id": POS_ID, "key": KEY, "invoice_no": str(number), "amount": 200,
            "tax_rate": 5, "tax_amount": 10, "total_amount": 210,
            "date_time": "2026-11-21 10:00:00"}
    body.update(changes)
    return body


def dumps(value: object) -> str:
    return json.dumps(value, indent=1)
