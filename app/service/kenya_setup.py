"""Setting up a Kenya upstream (docs/KENYA.md, "Credentials"), as the setup wizard does it:

- KRA Agent: sign in, set up the POS with the agent (seed 002 §3.1), initialise the device
  (§3.4, selectInitOsdcInfo); the account's password and tokens and the POS's client id and
  secret go to the OS keyring, the POS to the database, the choice to config.toml.
- ProTax: check the API key with /health (a ``ptx_test_`` or ``ptx_live_`` key only, and a
  clear warning when a test key meets a live address or the other way round); the key to the
  keyring, the POS to the database, the choice to config.toml.

Every message raised is one a shopkeeper can act on and never holds a secret. Keyring calls
block, so they run in a thread."""

import asyncio
import json
import ssl as ssl_module
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app import keystore
from app import settings as settings_module
from app.connectors.kenya_tokens import KenyaSetupError
from app.settings import Settings

__all__ = ["KenyaSetupError", "KenyaSetupResult", "ProTaxCheck", "check_protax",
           "key_kind", "key_prefix", "key_warning", "setup_kra_agent", "setup_protax",
           "sign_in_kra_agent"]

TEST_PREFIX, LIVE_PREFIX = "ptx_test_", "ptx_live_"
PROTAX_SANDBOX_URL = "https://sandbox.protax.co.ke/api/v2"
_SANDBOX_WORDS = ("sandbox", "test", "staging", "development", "dev")


@dataclass(frozen=True)
class KenyaSetupResult:
    """What was set up (nothing secret: fit for the screen)."""

    upstream: str
    base_url: str
    kra_pin: str
    pos_id: str
    released: int = 0  # held invoices of this POS sent again
    device: dict[str, str] = field(default_factory=dict)  # KRA Agent: dvcId, sdcId, mrcNo, status
    key_kind: str | None = None  # ProTax: "test" | "live"
    health: dict[str, str] = field(default_factory=dict)  # ProTax: version, environment, …
    warning: str | None = None
    settings_saved: bool = True


@dataclass(frozen=True)
class ProTaxCheck:
    """ProTax's /health answer for a key, as the wizard shows it."""

    version: str
    environment: str
    etims_status: str
    key_kind: str  # "test" | "live"
    warning: str | None


def key_kind(api_key: str) -> str | None:
    """"test" or "live" from a ProTax key's prefix; None for anything else."""
    key = api_key.strip()
    if key.startswith(TEST_PREFIX) and len(key) > len(TEST_PREFIX):
        return "test"
    if key.startswith(LIVE_PREFIX) and len(key) > len(LIVE_PREFIX):
        return "live"
    return None


def key_prefix(api_key: str) -> str:
    """What may be shown of a ProTax key: its prefix only ("ptx_test_…")."""
    kind = key_kind(api_key)
    return {"test": TEST_PREFIX + "…", "live": LIVE_PREFIX + "…"}.get(kind or "", "…")


def _is_sandbox(environment: str, base_url: str) -> bool:
    """Is this ProTax's sandbox? ProTax's own addresses say it; else what /health said; else a
    local address is taken for a sandbox."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host == urlsplit(settings_module.PROTAX_LIVE_URL).hostname:
        return False
    if "sandbox" in host.split("."):
        return True
    env = environment.lower()
    if env and env != "unknown":
        return any(word in env for word in _SANDBOX_WORDS)
    return host in ("localhost", "127.0.0.1", "::1")


def key_warning(kind: str, environment: str, base_url: str) -> str | None:
    """A test key against a live ProTax (or a live key against the sandbox) files nothing real
    or files real invoices while practising: say so plainly."""
    sandbox = _is_sandbox(environment, base_url)
    if kind == "test" and not sandbox:
        return ("This is a TEST key but the address is ProTax's live service: ProTax will "
                "refuse it or nothing will be filed with KRA. Use a ptx_live_ key for the shop.")
    if kind == "live" and sandbox:
        return ("This is a LIVE key but the address is ProTax's sandbox: invoices sent there are "
                "not filed with KRA. Use the live address for the shop, or a ptx_test_ key "
                "for practice.")
    return None


def _clean(base_url: str) -> str:
    url = base_url.strip().rstrip("/")
    if not url.startswith("https://") or not urlsplit(url).hostname:
        raise KenyaSetupError("The address must start with https:// (for example "
                              "https://agent.example.co.ke/kra-agent/api/v1).")
    return url


_LABELS = {"email": "The account's email", "kra_pin": "The KRA PIN", "pos_id": "The POS ID",
           "company_name": "The company name", "integration_token": "The integration token",
           "branch_id": "The branch id", "dvc_srl_no": "The device serial number"}


def _required(**values: str) -> dict[str, str]:
    cleaned = {}
    for name, value in values.items():
        text = (value or "").strip()
        if not text:
            raise KenyaSetupError(f"{_LABELS.get(name, name)} is required.")
        cleaned[name] = text
    return cleaned


async def _keyring_save(upstream: str, ntn: str, pos_id: str, secret: dict[str, Any]) -> None:
    from app.service.upstreams import register_secrets

    text = json.dumps(secret)
    register_secrets(text)  # never in a log line from now on
    try:
        await asyncio.to_thread(keystore.save_key, upstream, ntn, pos_id, text)
    except keystore.KeystoreError as why:
        raise KenyaSetupError(f"{why}. Unlock or install the computer's keyring, then try "
                              "again.") from None


async def _keep_pos(store, kra_pin: str, pos_id: str, upstream: str) -> int:
    await store.upsert_pos(kra_pin, pos_id, upstream)
    return await store.release_pos(pos_id)


def _save_settings(settings: Settings, **values: object) -> None:
    try:
        settings_module.save(settings.data_dir, **values)
    except settings_module.SettingsError as why:
        raise KenyaSetupError(f"The choice could not be saved: {why}") from None


# ------------------------------------------------------------------------------ KRA Agent


async def sign_in_kra_agent(*, base_url: str, email: str, password: str,
                            ssl: ssl_module.SSLContext | bool = True) -> dict[str, str]:
    """Check the account (nothing is saved): {"email", "base_url"} when the agent let us in."""
    from app.connectors import kra_agent

    base_url = _clean(base_url)
    fields = _required(email=email)
    if not password:
        raise KenyaSetupError("Password is required.")
    await kra_agent.login(base_url, fields["email"], password, ssl=ssl)
    return {"email": fields["email"], "base_url": base_url}


async def setup_kra_agent(store, settings: Settings, *, base_url: str, email: str,
                          password: str, kra_pin: str, pos_id: str, company_name: str,
                          integration_token: str, branch_id: str = "00", dvc_srl_no: str,
                          ssl: ssl_module.SSLContext | bool = True,
                          save_settings: bool = True) -> KenyaSetupResult:
    """Sign in, set up the POS and initialise its device with the KRA Agent; then the secrets
    to the keyring, the POS to the database and (``save_settings``) upstream = kra-agent.
    Raises KenyaSetupError (nothing saved locally before the agent said yes to every step)."""
    from app.connectors import kra_agent

    base_url = _clean(base_url)
    f = _required(email=email, kra_pin=kra_pin, pos_id=pos_id, company_name=company_name,
                  integration_token=integration_token, branch_id=branch_id or "00",
                  dvc_srl_no=dvc_srl_no)
    if not password:
        raise KenyaSetupError("Password is required.")
    account = await kra_agent.login(base_url, f["email"], password, ssl=ssl)
    bearer = account["access_token"]
    pos = await kra_agent.setup_pos(
        base_url, bearer, company_name=f["company_name"], kra_pin=f["kra_pin"],
        integration_token=f["integration_token"], branch_id=f["branch_id"],
        dvc_srl_no=f["dvc_srl_no"], ssl=ssl)
    client_id, client_secret = pos["client_id"], pos["client_secret"]
    answer = await kra_agent.init_device(base_url, bearer, client_id, client_secret, ssl=ssl)
    device = answer.get("device", answer) if isinstance(answer, dict) else {}
    facts = {"dvcId": str(device.get("dvcId") or "—"),
             "sdcId": str(device.get("sdcId") or device.get("sdicId") or "—"),
             "mrcNo": str(device.get("mrcNo") or "—"),
             "status": str(device.get("statusFromKRA") or answer.get("statusFromKRA") or "—"),
             "taxpayer": str(device.get("taxpayer_name") or "")}
    account = {"password": password, **{k: account[k] for k in
                                        ("access_token", "refresh_token", "access_expires_at")
                                        if k in account}}
    await _keyring_save("kra-agent", "account", f["email"], account)
    await _keyring_save("kra-agent", f["kra_pin"], f["pos_id"],
                        {"integration_token": f["integration_token"], "client_id": client_id,
                         "client_secret": client_secret})
    released = await _keep_pos(store, f["kra_pin"], f["pos_id"], "kra-agent")
    if save_settings:
        _save_settings(settings, upstream="kra-agent", upstream_url=base_url,
                       kra_agent_email=f["email"], practice=None)
    return KenyaSetupResult("kra-agent", base_url, f["kra_pin"], f["pos_id"], released,
                            device=facts, settings_saved=save_settings)


# --------------------------------------------------------------------------------- ProTax


async def check_protax(*, base_url: str, api_key: str,
                       ssl: ssl_module.SSLContext | bool = True) -> ProTaxCheck:
    """/health with this key (Test connection)."""
    from app.connectors import protax

    base_url = _clean(base_url)
    kind = key_kind(api_key)
    if kind is None:
        raise KenyaSetupError("This is not a ProTax API key: it must start with ptx_test_ (test) "
                              "or ptx_live_ (live). Copy it again from the ProTax dashboard, "
                              "Settings → API Keys.")
    health = await protax.health(base_url, api_key.strip(), ssl=ssl)
    environment = str(health.get("environment") or "unknown")
    return ProTaxCheck(version=str(health.get("version") or "—"), environment=environment,
                       etims_status=str(health.get("kra_etims_status") or "unknown"),
                       key_kind=kind, warning=key_warning(kind, environment, base_url))


async def setup_protax(store, settings: Settings, *, base_url: str, api_key: str, kra_pin: str,
                       pos_id: str, ssl: ssl_module.SSLContext | bool = True,
                       save_settings: bool = True) -> KenyaSetupResult:
    """Check the key (/health), then the key to the keyring, the POS to the database and
    (``save_settings``) upstream = protax. Raises KenyaSetupError."""
    f = _required(kra_pin=kra_pin, pos_id=pos_id)
    check = await check_protax(base_url=base_url, api_key=api_key, ssl=ssl)
    base_url = _clean(base_url)
    await _keyring_save("protax", f["kra_pin"], f["pos_id"], {"api_key": api_key.strip()})
    released = await _keep_pos(store, f["kra_pin"], f["pos_id"], "protax")
    if save_settings:
        _save_settings(settings, upstream="protax", upstream_url=base_url, practice=None)
    return KenyaSetupResult(
        "protax", base_url, f["kra_pin"], f["pos_id"], released, key_kind=check.key_kind,
        health={"version": check.version, "environment": check.environment,
                "etims_status": check.etims_status},
        warning=check.warning, settings_saved=save_settings)
