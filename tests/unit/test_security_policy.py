"""The localhost security rules (server/security.py) as pure decisions, and their settings."""

import inspect
import socket
from pathlib import Path

import pytest
from aiohttp.web_protocol import RequestHandler

from app import settings
from app.server import security
from app.server.security import LanNeedsAllowList, SecurityPolicy

PORT = 3000


@pytest.fixture
def local() -> SecurityPolicy:
    return SecurityPolicy.build("127.0.0.1", port=PORT)


@pytest.fixture
def lan(monkeypatch) -> SecurityPolicy:
    monkeypatch.setattr(socket, "gethostname", lambda: "Shop-PC")
    return SecurityPolicy.build("0.0.0.0", allowed_clients=["192.168.1.0/24", "10.0.0.7"],
                                allowed_hosts=["till-server.lan"], port=PORT)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("LOCALHOST", True),
    ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False), ("", False),
    ("192.168.1.10", False), ("shop-pc", False)])
def test_which_listening_addresses_are_loopback(host, loopback):
    assert security.is_loopback_host(host) is loopback


@pytest.mark.parametrize("host", [
    "localhost", "localhost:3000", "127.0.0.1", "127.0.0.1:3000", "[::1]", "[::1]:3000",
    "LocalHost:3000", " 127.0.0.1:3000 "])
def test_own_names_are_accepted_with_or_without_the_port(local, host):
    assert local.host_allowed(host)


@pytest.mark.parametrize("host", [
    "evil.example", "evil.example:3000", "localhost.", "localhost:8080", "127.0.0.1:80",
    "192.168.1.10", "192.168.1.10:3000", "shop-pc:3000", "[::1]x", "127.0.0.1.nip.io:3000", ""])
def test_other_host_names_are_refused_on_loopback(local, host):
    assert not local.host_allowed(host)


@pytest.mark.parametrize("host", [
    "localhost:3000", "192.168.1.10:3000", "192.168.1.10", "10.0.0.1:3000", "[fe80::1]:3000",
    "shop-pc", "shop-pc:3000", "shop-pc.local:3000", "till-server.lan:3000"])
def test_lan_mode_accepts_ip_literals_this_computers_name_and_given_names(lan, host):
    assert lan.host_allowed(host)


@pytest.mark.parametrize("host", [
    "evil.example:3000", "192.168.1.10:8080", "other-pc:3000", "[fe80::1]:1", "[fe80::1"])
def test_lan_mode_still_refuses_foreign_names(lan, host):
    assert not lan.host_allowed(host)


def test_before_the_port_is_known_any_port_of_our_names_is_accepted():
    policy = SecurityPolicy.build("127.0.0.1")
    assert policy.host_allowed("localhost:41234")
    assert not policy.host_allowed("evil.example:41234")
    assert policy.origin_allowed("http://127.0.0.1:41234", None)
    assert not policy.origin_allowed("http://evil.example:41234", None)


def test_lan_mode_needs_an_allow_list():
    with pytest.raises(LanNeedsAllowList) as refused:
        SecurityPolicy.build("0.0.0.0")
    assert "--allow-client" in str(refused.value) and "allowed_clients" in str(refused.value)
    with pytest.raises(LanNeedsAllowList):
        SecurityPolicy.build("192.168.1.10", allowed_clients=[])
    assert SecurityPolicy.build("127.0.0.1").lan is False


def test_a_bad_client_entry_is_named():
    with pytest.raises(ValueError, match=r"'192\.168\.1\.300'"):
        SecurityPolicy.build("0.0.0.0", allowed_clients=["192.168.1.300"])


@pytest.mark.parametrize(("remote", "allowed"), [
    ("127.0.0.1", True), ("::1", True), ("127.0.0.9", True), ("::ffff:127.0.0.1", True),
    ("192.168.1.20", True), ("::ffff:192.168.1.20", True), ("10.0.0.7", True),
    ("10.0.0.8", False), ("192.168.2.1", False), ("2001:db8::1", False), ("garbage", False),
    (None, False)])
def test_lan_clients_must_be_on_the_list_and_loopback_always_may(lan, remote, allowed):
    assert lan.client_allowed(remote) is allowed


def test_on_loopback_only_loopback_clients_are_expected(local):
    assert local.client_allowed("127.0.0.1") and local.client_allowed(None)
    assert not local.client_allowed("192.168.1.20")


@pytest.mark.parametrize("headers", [
    {}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
    {"Origin": "http://127.0.0.1:3000"}, {"Origin": "http://localhost:3000"},
    {"Origin": "http://[::1]:3000", "Sec-Fetch-Site": "same-origin"},
    {"Origin": "HTTP://LOCALHOST:3000"}])
def test_pos_software_and_our_own_pages_are_not_cross_site(local, headers):
    assert local.cross_site(headers, "127.0.0.1:3000") is None


@pytest.mark.parametrize(("headers", "rule"), [
    ({"Sec-Fetch-Site": "cross-site"}, "sec-fetch-site"),
    ({"Sec-Fetch-Site": "same-site"}, "sec-fetch-site"),
    ({"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.1:3000"}, "sec-fetch-site"),
    ({"Origin": "https://evil.example"}, "origin"),
    ({"Origin": "null"}, "origin"),
    ({"Origin": "http://localhost:8080"}, "origin"),
    ({"Origin": "https://127.0.0.1:3000"}, "origin"),
    ({"Origin": "http://192.168.1.10:3000"}, "origin")])
def test_cross_site_browser_requests_are_refused_naming_the_rule(local, headers, rule):
    assert set(local.cross_site(headers, "127.0.0.1:3000")) == {rule}


def test_lan_pages_may_post_to_their_own_address_only(lan):
    assert lan.cross_site({"Origin": "http://192.168.1.10:3000"}, "192.168.1.10:3000") is None
    assert lan.cross_site({"Origin": "http://shop-pc:3000"}, "shop-pc:3000") is None
    assert lan.cross_site({"Origin": "http://192.168.1.99:3000"}, "192.168.1.10:3000")
    assert lan.cross_site({"Origin": "http://evil.example:3000"}, "evil.example:3000")


def test_port_80_origins_may_leave_the_port_out():
    policy = SecurityPolicy.build("127.0.0.1", port=80)
    assert policy.origin_allowed("http://localhost", "localhost")
    assert policy.origin_allowed("http://localhost:80", "localhost")


def test_lan_start_up_line_names_the_clients(lan):
    line = lan.describe()
    assert line.startswith("listening on the LAN at 0.0.0.0:3000; only these clients are "
                           "accepted: 192.168.1.0/24, 10.0.0.7")
    assert "shop-pc" in line and "till-server.lan" in line


def test_handler_args_are_aiohttp_request_handler_arguments():
    accepted = inspect.signature(RequestHandler.__init__).parameters
    args = security.handler_args(15.0)
    assert set(args) <= set(accepted)
    assert args["keepalive_timeout"] == 15.0 and args["max_headers"] < 128


# Settings: the allow-lists from config.toml and flags.

def test_allow_lists_come_from_config_toml(tmp_path: Path):
    (tmp_path / settings.CONFIG_NAME).write_text(
        'host = "0.0.0.0"\nallowed_clients = ["192.168.1.0/24", "10.0.0.7"]\n'
        'allowed_hosts = ["shop-pc"]\nbody_timeout = 5.0\n', encoding="utf-8")
    loaded = settings.load(tmp_path)
    assert loaded.allowed_clients == ("192.168.1.0/24", "10.0.0.7")
    assert loaded.allowed_hosts == ("shop-pc",)
    assert loaded.body_timeout == 5.0
    flagged = settings.load(tmp_path, allowed_clients=["10.1.1.1"])
    assert flagged.allowed_clients == ("10.1.1.1",)  # a flag replaces the file's list


def test_defaults_are_loopback_with_no_allow_list(tmp_path: Path):
    loaded = settings.load(tmp_path)
    assert loaded.host == "127.0.0.1" and loaded.allowed_clients == ()
    assert loaded.idle_timeout > 0 and loaded.body_timeout > 0


@pytest.mark.parametrize(("text", "complaint"), [
    ('allowed_clients = "192.168.1.20"', "must be a list"),
    ('allowed_clients = ["192.168.1.300"]', "'192.168.1.300' is not an IP address"),
    ('allowed_clients = [""]', "non-empty"),
    ('allowed_hosts = ["http://x/"]', "is not a host name"),
    ("body_timeout = 0", "more than 0")])
def test_bad_security_settings_are_refused_with_a_reason(tmp_path: Path, text, complaint):
    (tmp_path / settings.CONFIG_NAME).write_text(text + "\n", encoding="utf-8")
    with pytest.raises(settings.SettingsError, match=complaint):
        settings.load(tmp_path)
