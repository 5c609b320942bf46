"""The three authorities as the contract tests see them: how to start each one's sandbox, set a
POS up with it the way a shopkeeper would, what a till posts, and how to read the authority's
books afterwards. The tests themselves (test_contract.py) are the same for all three."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from app import keystore
from app.settings import RetrySettings, Settings, load
from app.store import repository
from app.store.database import open_database

FAST_RETRY = RetrySettings(first_min=0.05, first_max=0.1, cap=0.4)
SOLD_AT = "2026-11-20 10:00:00"  # yesterday: never "in the future" whatever the hour


def _configure(data_dir: Path, upstream: str, ntn: str, pos_id: str, secret: str) -> None:
    """What setup does: the secret into the OS keyring, the POS into the database."""
    keystore.save_key(upstream, ntn, pos_id, secret)
    database = open_database(data_dir / "rims.sqlite3")
    with database.connection_context(), database.atomic():
        repository.upsert_pos(database, ntn, pos_id, upstream)
        repository.release_pos(database, pos_id)
    database.close()


class Upstream:
    """One authority. ``number`` is the till's invoice number."""

    name: str
    ntn: str
    pos_id: str
    till_key: str
    posts_after_lost_answer = 2  # the sale's posts in all when the first one's answer is lost

    async def start_sandbox(self, folder: Path) -> Any:
        raise NotImplementedError

    async def configure(self, data_dir: Path, sandbox: Any) -> None:
        raise NotImplementedError

    def settings(self, data_dir: Path, sandbox: Any, **changes: object) -> Settings:
        raise NotImplementedError

    def sale(self, number: str) -> dict:
        raise NotImplementedError

    def recorded(self, sandbox: Any, number: str) -> int:
        """How many times the authority's books hold this sale (must end at exactly 1)."""
        raise NotImplementedError

    def received(self, sandbox: Any, number: str) -> int:
        """How many requests for this sale reached the authority."""
        raise NotImplementedError

    def till_auth(self) -> dict:
        return {"ntn": self.ntn, "pos_id": self.pos_id, "key": self.till_key}

    def secrets(self) -> list[str]:
        """Every secret configure() put in the keyring (none may appear in the data folder)."""
        stored = keystore.load_key(self.name, self.ntn, self.pos_id) or ""
        try:
            values = [v for v in json.loads(stored).values() if isinstance(v, str)]
        except (ValueError, AttributeError):
            values = [stored]
        return [v for v in values if len(v) >= 8]

    def forget(self) -> None:
        """Remove what configure() put in the keyring (the run's keyring is shared by every
        test; another test may expect an empty one)."""
        keystore.delete_key(self.name, self.ntn, self.pos_id)


class Kpra(Upstream):
    name = "kpra"
    ntn, pos_id, till_key = "K123456", "K123456", "KPRA@123a"  # the seed's test user

    async def start_sandbox(self, folder: Path) -> Any:
        from app.sandbox.kpra import KpraSandbox
        box = KpraSandbox(folder)
        await box.start()
        return box

    async def configure(self, data_dir: Path, sandbox: Any) -> None:
        _configure(data_dir, "kpra", self.ntn, self.pos_id, self.till_key)

    def settings(self, data_dir: Path, sandbox: Any, **changes: object) -> Settings:
        base = load(data_dir, port=0, upstream_url=sandbox.endpoint_url,
                    upstream_ca=sandbox.ca_file)
        return dataclasses.replace(base, retry=FAST_RETRY, **changes)

    def sale(self, number: str) -> dict:
        return {**self.till_auth(), "invoice_no": number, "amount": 200, "tax_rate": 5,
                "tax_amount": 10, "total_amount": 210, "date_time": SOLD_AT}

    def recorded(self, sandbox: Any, number: str) -> int:
        return 1 if (self.pos_id, number) in sandbox.records() else 0

    def received(self, sandbox: Any, number: str) -> int:
        return sandbox.received_count(self.pos_id, number)


class _Kenya(Upstream):
    ntn, pos_id = "P051234567A", "POS-1"

    def settings(self, data_dir: Path, sandbox: Any, **changes: object) -> Settings:
        base = load(data_dir, port=0, upstream=self.name, upstream_url=sandbox.base_url,
                    upstream_ca=sandbox.ca_file, **self.extra_settings())
        return dataclasses.replace(base, retry=FAST_RETRY, **changes)

    def extra_settings(self) -> dict[str, object]:
        return {}

    def sale(self, number: str) -> dict:
        return {**self.till_auth(), "invoice_no": number, "date_time": SOLD_AT,
                "customer_pin": "P051234567A", "customer_name": "Acme Ltd",
                "payment_type": "01",
                "items": [{"item_code": "KE1NTXU0000013", "item_name": "Sinda Engine Oil 20W50",
                           "quantity": 2, "unit_price": 3500, "tax_type": "B"}]}


class KraAgent(_Kenya):
    name = "kra-agent"
    till_key = "contract-integration-token"

    async def start_sandbox(self, folder: Path) -> Any:
        from app.sandbox.kra_agent import KraAgentSandbox
        box = KraAgentSandbox(folder)
        await box.start()
        return box

    def extra_settings(self) -> dict[str, object]:
        from app.sandbox import kra_agent
        return {"kra_agent_email": kra_agent.DEFAULT_EMAIL}

    async def configure(self, data_dir: Path, sandbox: Any) -> None:
        """The wizard's KRA Agent steps, against the sandbox: sign in, set the POS up,
        initialise the device; secrets into the keyring."""
        import ssl

        from app.connectors import kra_agent
        from app.sandbox import kra_agent as box

        context = ssl.create_default_context(cafile=str(sandbox.ca_file))
        account = await kra_agent.login(sandbox.base_url, box.DEFAULT_EMAIL, box.DEFAULT_PASSWORD,
                                        ssl=context)
        keystore.save_key("kra-agent", "account", box.DEFAULT_EMAIL, json.dumps(account))
        pos = await kra_agent.setup_pos(
            sandbox.base_url, account["access_token"], company_name="Contract shop",
            kra_pin=self.ntn, integration_token=self.till_key, branch_id="00",
            dvc_srl_no="CONTRACT-1", ssl=context)
        await kra_agent.init_device(sandbox.base_url, account["access_token"], pos["client_id"],
                                    pos["client_secret"], ssl=context)
        _configure(data_dir, self.name, self.ntn, self.pos_id, json.dumps({
            "integration_token": self.till_key, "client_id": pos["client_id"],
            "client_secret": pos["client_secret"]}))

    def secrets(self) -> list[str]:
        from app.sandbox import kra_agent
        account = json.loads(keystore.load_key(self.name, "account", kra_agent.DEFAULT_EMAIL)
                             or "{}")
        return super().secrets() + [account[name] for name in (
            "password", "access_token", "refresh_token") if account.get(name)]

    def forget(self) -> None:
        from app.sandbox import kra_agent
        super().forget()
        keystore.delete_key(self.name, "account", kra_agent.DEFAULT_EMAIL)

    def recorded(self, sandbox: Any, number: str) -> int:
        return sandbox.recorded_count("sale", number)

    def received(self, sandbox: Any, number: str) -> int:
        return sandbox.received_count("sale", number)


class ProTax(_Kenya):
    name = "protax"
    posts_after_lost_answer = 1  # the connector finds it with GET /invoices instead

    @property
    def till_key(self) -> str:  # type: ignore[override]
        from app.sandbox import protax
        return protax.DEFAULT_KEY

    async def start_sandbox(self, folder: Path) -> Any:
        from app.sandbox.protax import ProTaxSandbox
        box = ProTaxSandbox(folder)
        await box.start()
        return box

    async def configure(self, data_dir: Path, sandbox: Any) -> None:
        _configure(data_dir, self.name, self.ntn, self.pos_id,
                   json.dumps({"api_key": self.till_key}))

    def recorded(self, sandbox: Any, number: str) -> int:
        return sandbox.recorded_count("invoice", number)

    def received(self, sandbox: Any, number: str) -> int:
        return sandbox.received_count("invoice", number)


ALL = {u.name: u for u in (Kpra(), KraAgent(), ProTax())}
