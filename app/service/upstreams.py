"""Which authority this installation reports to (settings.upstream), and what that takes: the
connector, practice mode's sandbox and sample POS, and the key a till sends (docs/KENYA.md).

Each Kenya connector and sandbox is imported only when that upstream is chosen: a KPRA
installation never loads them."""

import json
import logging
from pathlib import Path
from typing import Any

from app import keystore
from app.connectors.outcomes import Connector, Credentials
from app.settings import UPSTREAM_NAMES, Settings

log = logging.getLogger(__name__)

# The seed's published test user ("API Test User Credentials"): public, not a secret.
PRACTICE_POS = Credentials(ntn="K123456", pos_id="K123456", key="KPRA@123a")
# Practice mode in Kenya: a sample shop (made-up PIN) whose till key is public too.
KENYA_PRACTICE_PIN = "P051234567A"
KENYA_PRACTICE_POS_ID = "POS-1"
KENYA_PRACTICE_TILL_KEY = "practice-till-key"


def display_name(upstream: str) -> str:
    return UPSTREAM_NAMES.get(upstream, upstream)


def till_key(upstream: str, stored: str | None) -> str | None:
    """The key a till sends for a POS, from what the keyring holds for it: KPRA's key itself;
    in Kenya the keyring holds a JSON object (docs/KENYA.md, "Credentials") and the till sends
    the KRA Agent integration token or the ProTax API key."""
    if stored is None or upstream == "kpra":
        return stored
    try:
        secrets = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(secrets, dict):
        return None
    value = secrets.get("integration_token" if upstream == "kra-agent" else "api_key")
    return value if isinstance(value, str) and value else None


def register_secrets(stored: str) -> None:
    """Keep a keyring entry out of every log line: the whole string and, for a Kenya JSON
    entry, each secret in it."""
    from app.logs import redactor

    redactor.register(stored)
    try:
        secrets = json.loads(stored)
    except ValueError:
        return
    if isinstance(secrets, dict):
        for name, value in secrets.items():
            if isinstance(value, str) and value and name != "access_expires_at":
                redactor.register(value)


def make_sandbox(settings: Settings) -> Any:
    """Practice mode's stand-in for the chosen authority (not started)."""
    folder = settings.data_dir / "practice-sandbox"
    if settings.upstream == "kra-agent":
        from app.sandbox.kra_agent import KraAgentSandbox
        return KraAgentSandbox(folder / "kra-agent")
    if settings.upstream == "protax":
        from app.sandbox.protax import ProTaxSandbox
        return ProTaxSandbox(folder / "protax")
    from app.sandbox.kpra import KpraSandbox
    return KpraSandbox(folder)


def sandbox_address(settings: Settings, sandbox: Any) -> str:
    return sandbox.endpoint_url if settings.upstream == "kpra" else sandbox.base_url


class AccountStore:
    """The KRA Agent account's password and tokens: the OS keyring, or (practice mode) memory."""

    def __init__(self, email: str, *, memory: dict | None = None):
        self.email = email
        self._memory = memory

    def load(self) -> dict | None:
        if self._memory is not None:
            return dict(self._memory)
        stored = keystore.load_key("kra-agent", "account", self.email)
        if not stored:
            return None
        register_secrets(stored)
        try:
            value = json.loads(stored)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def save(self, account: dict) -> None:
        register_secrets(json.dumps(account))
        if self._memory is not None:
            self._memory.clear()
            self._memory.update(account)
            return
        keystore.save_key("kra-agent", "account", self.email, json.dumps(account))


def make_connector(settings: Settings, address: str, ca_file: Path | None,
                   account: AccountStore | None = None) -> Connector:
    common = dict(ca_file=ca_file, concurrency=settings.send_concurrency,
                  connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout)
    if settings.upstream == "kra-agent":
        from app.connectors.kenya_tokens import AgentTokens
        from app.connectors.kra_agent import KraAgentConnector

        account = account or AccountStore(settings.kra_agent_email)
        tokens = AgentTokens(address, account.email, upstream_ssl(ca_file), account.load, account.save)
        return KraAgentConnector(address, tokens=tokens, poll_after=settings.poll_interval,
                                 **common)
    if settings.upstream == "protax":
        from app.connectors.protax import ProTaxConnector
        return ProTaxConnector(address, poll_after=settings.poll_interval, **common)
    from app.connectors.kpra import KpraConnector
    return KpraConnector(address, field_style=settings.field_style, **common)


def upstream_ssl(ca_file: Path | None) -> Any:
    """TLS verification for the upstream: on, with the system's CAs, plus ``ca_file`` (an extra
    CA: the practice sandbox's) when there is one (as the connectors' own, http.make_ssl)."""
    if ca_file is None:
        return True
    from app.connectors.http import make_ssl
    return make_ssl(ca_file)


async def practice_pos(settings: Settings, sandbox: Any) -> tuple[Credentials, AccountStore | None]:
    """Practice mode's sample POS for the chosen authority, set up with the sandbox as a shop
    would (KRA Agent: sign in, POS setup, device initialisation; ProTax: the sandbox's test
    key). Its secrets stay in memory, never in the keyring."""
    if settings.upstream == "kpra":
        return PRACTICE_POS, None
    if settings.upstream == "protax":
        from app.sandbox import protax as sandbox_module
        key = json.dumps({"api_key": sandbox_module.DEFAULT_KEY})
        return Credentials(KENYA_PRACTICE_PIN, KENYA_PRACTICE_POS_ID, key), None
    from app.connectors import kra_agent
    from app.sandbox import kra_agent as sandbox_module

    ssl = upstream_ssl(sandbox.ca_file)
    email, password = sandbox_module.DEFAULT_EMAIL, sandbox_module.DEFAULT_PASSWORD
    account = await kra_agent.login(sandbox.base_url, email, password, ssl=ssl)
    pos = await kra_agent.setup_pos(
        sandbox.base_url, account["access_token"], company_name="Practice shop",
        kra_pin=KENYA_PRACTICE_PIN, integration_token=KENYA_PRACTICE_TILL_KEY, branch_id="00",
        dvc_srl_no="PRACTICE-1", ssl=ssl)
    await kra_agent.init_device(sandbox.base_url, account["access_token"], pos["client_id"],
                                pos["client_secret"], ssl=ssl)
    key = json.dumps({"integration_token": KENYA_PRACTICE_TILL_KEY,
                      "client_id": pos["client_id"], "client_secret": pos["client_secret"]})
    return (Credentials(KENYA_PRACTICE_PIN, KENYA_PRACTICE_POS_ID, key),
            AccountStore(email, memory=account))

