"""The service's small helpers: the first-run check without the keyring, the ProTax keys of
the configured POS, the upstream's TLS, and a Kenya setup without an address refused before
the database is opened."""

import json
import ssl
from pathlib import Path
from types import SimpleNamespace

import pytest
import trustme

from app import keystore
from app.connectors.outcomes import Credentials
from app.service.core import Core, StartupError
from app.service.facade import Facade, ServiceError
from app.service.upstreams import upstream_ssl
from app.settings import load


class _Store:
    def __init__(self, poses: list) -> None:
        self.poses = poses

    async def list_pos(self) -> list:
        return self.poses


class _Registry:
    def __init__(self, keys: dict[str, str | None]) -> None:
        self.keys = keys

    def pos_ids(self) -> list[str]:
        return sorted(self.keys)

    async def credentials(self, pos_id: str, min_version: int) -> Credentials | None:
        key = self.keys[pos_id]
        return None if key is None else Credentials("P051234567A", pos_id, key)


def _facade(upstream: str = "protax", keys: dict[str, str | None] | None = None,
            poses: list | None = None) -> Facade:
    core = SimpleNamespace(
        settings=SimpleNamespace(upstream=upstream, practice=False, kra_agent_email=""),
        registry=_Registry(keys or {}), store=_Store(poses or []), upstream_name=upstream,
        upstream_url="https://protax.invalid")
    return Facade(core)  # type: ignore[arg-type]


async def test_has_pos_asks_the_database_only_never_the_keyring(monkeypatch):
    def no_keyring(*args: object) -> None:
        raise AssertionError("the first-run check read the keyring")

    monkeypatch.setattr(keystore, "read_keys", no_keyring)
    assert await _facade(poses=[]).has_pos() is False
    assert await _facade(poses=[SimpleNamespace(pos_id="POS-1")]).has_pos() is True


async def test_the_protax_keys_of_every_pos_give_key_kinds_mode_and_the_look_up_key():
    facade = _facade(keys={"A": None, "B": json.dumps({"api_key": "ptx_live_abc"}),
                           "C": "not json", "D": json.dumps({"api_key": "ptx_test_xyz"})})
    assert (await facade.kenya_account())["key_kinds"] == {
        "A": None, "B": "live", "C": None, "D": "test"}
    assert await facade._protax_key() == "ptx_live_abc"  # the first POS with a key
    assert await facade.protax_key_mode() == "live"


async def test_without_protax_there_are_no_protax_keys():
    facade = _facade("kra-agent", keys={"A": json.dumps({"api_key": "ptx_live_abc"})})
    assert (await facade.kenya_account())["key_kinds"] == {}
    assert await facade.protax_key_mode() is None
    with pytest.raises(ServiceError, match="ProTax's"):
        await facade._protax_key()
    with pytest.raises(ServiceError, match="No POS"):
        await _facade(keys={"A": None})._protax_key()


def test_upstream_tls_keeps_the_systems_cas_and_adds_the_extra_one(tmp_path: Path):
    assert upstream_ssl(None) is True  # aiohttp's default verification
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    context = upstream_ssl(ca_file)
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    system = ssl.create_default_context().cert_store_stats()["x509_ca"]
    assert context.cert_store_stats()["x509_ca"] == system + 1


async def test_a_kra_agent_without_an_address_is_refused_before_the_database_is_opened(
        tmp_path: Path):
    settings = load(tmp_path, port=0, upstream="kra-agent")
    assert not settings.upstream_base
    with pytest.raises(StartupError, match="address is not set"):
        await Core(settings).start()
    assert not settings.db_path.exists()
