"""Localhost security against the real server: DNS rebinding, cross-site browser posts, header
and body limits, slow clients, key guessing, and LAN mode (server/security.py)."""

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from app.sandbox.kpra import KpraSandbox
from app.server.throttle import MAX_FAILURES
from app.service.core import Core, StartupError
from tests.integration.conftest import KEY, Utility, configure_pos, invoice, utility_settings
from tests.integration.test_cli import run_cli

ERROR_SHAPE = {"status", "message", "errors"}


@contextlib.asynccontextmanager
async def running(tmp_path: Path, sandbox: KpraSandbox, **changes: object) -> AsyncIterator[Utility]:
    data_dir = tmp_path / "data"
    configure_pos(data_dir)
    utility = await Utility(data_dir, sandbox, **changes).start()
    try:
        yield utility
    finally:
        await utility.stop()


async def request(utility: Utility, method: str, path: str, **kwargs: object) -> tuple[int, dict, dict]:
    assert utility.http is not None
    async with utility.http.request(method, path, **kwargs) as response:
        return response.status, await response.json(), dict(response.headers)


async def raw_exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send bytes as they are, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def json_of(answer: bytes) -> dict:
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def lan_address() -> str | None:
    """This computer's own non-loopback IPv4 address, if it has one (no packet is sent)."""
    for probe in ("192.0.2.1", "10.255.255.255", "198.51.100.1"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                address = sock.getsockname()[0]
            with socket.socket() as sock:  # and a server can listen on it
                sock.bind((address, 0))
        except OSError:
            continue
        if not ipaddress.ip_address(address).is_loopback and address != "0.0.0.0":
            return address
    return None


needs_lan_address = pytest.mark.skipif(lan_address() is None,
                                       reason="this machine has no non-loopback IPv4 address")


# 1. DNS rebinding: the Host header

async def test_dns_rebinding_host_is_refused_with_a_clear_error(utility):
    port = utility.core.port
    for method, path, body in (("POST", "/api/invoice", invoice("R1")), ("GET", "/api/health", None)):
        status, answer, _ = await request(utility, method, path, json=body,
                                          headers={"Host": "evil.example"})
        assert status == 421, answer
        assert set(answer) == ERROR_SHAPE and answer["status"] == 421
        assert "DNS rebinding" in answer["message"]
        assert f"http://127.0.0.1:{port}" in answer["message"]
        assert set(answer["errors"]) == {"host"} and "evil.example" in answer["errors"]["host"]
    status, _, _ = await request(utility, "GET", "/", headers={"Host": f"evil.example:{port}"})
    assert status == 421
    assert await utility.state_of("R1") is None


async def test_own_names_are_answered_with_or_without_the_port(utility):
    port = utility.core.port
    for host in ("localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}", "[::1]",
                 f"[::1]:{port}"):
        status, answer, _ = await request(utility, "GET", "/api/health", headers={"Host": host})
        assert status == 200, (host, answer)


# 2. Cross-site browser requests

@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "null"},
], ids=["origin", "origin+fetch-site", "fetch-site", "same-site", "null-origin"])
@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
async def test_cross_site_browser_post_is_refused(utility, headers, form):
    body = invoice("X1")
    kwargs = {"data": {k: str(v) for k, v in body.items()}} if form else {"json": body}
    status, answer, _ = await request(utility, "POST", "/api/invoice", headers=headers, **kwargs)
    assert status == 403, answer
    assert set(answer) == ERROR_SHAPE and answer["status"] == 403
    assert "another site" in answer["message"]
    rule = "sec-fetch-site" if "Sec-Fetch-Site" in headers else "origin"
    assert set(answer["errors"]) == {rule}
    assert await utility.state_of("X1") is None


async def test_same_machine_browser_get_and_pos_post_still_work(utility):
    port = utility.core.port
    browser = {"Host": f"localhost:{port}", "Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate",
               "Sec-Fetch-Dest": "document", "Accept": "text/html", "User-Agent": "Mozilla/5.0"}
    async with utility.http.get("/", headers=browser) as response:
        assert response.status == 200 and "is running" in await response.text()
    status, _, _ = await request(utility, "GET", "/api/health",
                                 headers={"Sec-Fetch-Site": "cross-site"})  # reads: CORS's job
    assert status == 200
    # Our own page posting (same origin), and the POS: JSON, form, and HTTP/1.0 with no Host.
    status, answer, _ = await request(
        utility, "POST", "/api/invoice", json=invoice("OK1"),
        headers={"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"})
    assert status == 201, answer
    status, answer, _ = await utility.post(invoice("OK2"))
    assert status == 201, answer
    status, answer, _ = await utility.post(invoice("OK3"), form=True)
    assert status == 201, answer
    body = json.dumps(invoice("OK4")).encode()
    answer = await raw_exchange(port, b"POST /api/invoice HTTP/1.0\r\nContent-Type: application/json"
                                      b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert answer.startswith(b"HTTP/1.0 201"), answer[:200]
    for number in ("OK1", "OK2", "OK3", "OK4"):
        assert await utility.state_of(number) in ("queued", "sending", "synced")


# 3. Header and body limits, slow clients

@pytest.mark.parametrize("what", ["one huge header", "too many headers", "huge request line"])
async def test_oversized_headers_are_refused(utility, what):
    path, headers = "/api/health", {}
    if what == "one huge header":
        headers = {"X-Big": "x" * 20_000}
    elif what == "too many headers":
        headers = {f"X-Many-{n}": "1" for n in range(200)}
    else:
        path = "/api/qr?pos_id=K123456&invoice_no=" + "9" * 10_000
    async with utility.http.get(path, headers=headers) as response:
        # aiohttp's parser refuses these before any route or middleware runs (plain text, 400)
        assert response.status == 400
    status, _, _ = await request(utility, "GET", "/api/health")  # and the server is fine
    assert status == 200


async def test_a_slow_body_is_cut_off_within_a_bound(tmp_path, sandbox):
    limit = 0.5
    async with running(tmp_path, sandbox, body_timeout=limit) as utility:
        reader, writer = await asyncio.open_connection("127.0.0.1", utility.core.port)
        body = json.dumps(invoice("SLOW")).encode()
        writer.write(b"POST /api/invoice HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        started = time.monotonic()

        async def dribble() -> None:  # one byte every 50 ms: ten seconds for the whole body
            for byte in body[:-1]:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)

        dribbling = asyncio.create_task(dribble())
        try:
            answer = await asyncio.wait_for(reader.read(), limit + 5)  # until the server closes
        finally:
            dribbling.cancel()
            await asyncio.gather(dribbling, return_exceptions=True)
            writer.close()
        elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        reply = json_of(answer)
        assert set(reply) == ERROR_SHAPE and reply["status"] == 408
        assert "nothing was saved" in reply["message"]
        assert limit <= elapsed < limit + 2.5, elapsed
        assert await utility.state_of("SLOW") is None
        status, _, _ = await utility.post(invoice("FAST"))  # others are served meanwhile
        assert status == 201


async def test_slow_headers_are_cut_off_within_a_bound(tmp_path, sandbox):
    limit = 0.5
    async with running(tmp_path, sandbox, idle_timeout=limit) as utility:
        reader, writer = await asyncio.open_connection("127.0.0.1", utility.core.port)
        writer.write(b"POST /api/invoice HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()

        async def dribble() -> None:  # a header line every 100 ms, never the blank line
            for n in range(100):
                writer.write(b"X-Slow-%d: 1\r\n" % n)
                await writer.drain()
                await asyncio.sleep(0.1)

        dribbling = asyncio.create_task(dribble())
        try:
            answer = await asyncio.wait_for(reader.read(), limit + 5)
        finally:
            dribbling.cancel()
            await asyncio.gather(dribbling, return_exceptions=True)
            writer.close()
        elapsed = time.monotonic() - started
        assert answer == b""  # closed, without an answer
        assert elapsed < limit + 2.5, elapsed


async def test_an_idle_connection_is_closed(tmp_path, sandbox):
    async with running(tmp_path, sandbox, idle_timeout=0.5) as utility:
        reader, writer = await asyncio.open_connection("127.0.0.1", utility.core.port)
        try:
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            assert time.monotonic() - started < 3
        finally:
            writer.close()


# 4. Guessing keys

async def test_repeated_401s_are_throttled_with_retry_after(utility):
    for n in range(MAX_FAILURES):
        status, answer, _ = await utility.post(invoice(f"G{n}", key=f"guess-{n}"))
        assert status == 401, (n, answer)
    status, answer, headers = await utility.post(invoice("G-right"))  # even the right key
    assert status == 429, answer
    assert set(answer) == ERROR_SHAPE and answer["status"] == 429
    assert "wrong NTN, POS ID or key" in answer["message"]
    assert set(answer["errors"]) == {"key"}
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert await utility.state_of("G-right") is None
    status, _, _ = await request(utility, "GET", "/api/health")  # reading is not throttled
    assert status == 200


async def test_fewer_failures_than_the_limit_do_not_block(utility):
    for n in range(MAX_FAILURES - 1):
        status, _, _ = await utility.post(invoice(f"H{n}", key="wrong"))
        assert status == 401
    status, answer, _ = await utility.post(invoice("H-ok", key=KEY))
    assert status == 201, answer


@needs_lan_address
async def test_a_throttled_client_does_not_block_others(tmp_path, sandbox):
    address = lan_address()
    async with running(tmp_path, sandbox, host="0.0.0.0", allowed_clients=(address,)) as utility:
        for n in range(MAX_FAILURES):
            status, _, _ = await utility.post(invoice(f"B{n}", key="wrong"))
            assert status == 401
        status, _, _ = await utility.post(invoice("B-blocked"))
        assert status == 429
        async with (aiohttp.ClientSession(f"http://{address}:{utility.core.port}") as other,
                    other.post("/api/invoice", json=invoice("GOOD")) as response):
            assert response.status == 201, await response.text()
        status, _, _ = await utility.post(invoice("B-still-blocked"))
        assert status == 429


# 5. LAN mode

async def test_lan_mode_refuses_to_start_without_an_allow_list(tmp_path, sandbox):
    data_dir = tmp_path / "data"
    core = Core(utility_settings(data_dir, sandbox, host="0.0.0.0"))
    with pytest.raises(StartupError) as refused:
        await core.start()
    message = str(refused.value)
    assert "--allow-client" in message and "allowed_clients" in message
    assert "127.0.0.1" in message  # and how to stay local
    assert not (data_dir / "rims.sqlite3").exists()


def test_lan_mode_without_an_allow_list_is_refused_by_the_command(tmp_path):
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "--allow-client" in result.stderr


def test_a_bad_allow_client_is_a_configuration_problem(tmp_path):
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path),
                     "--allow-client", "192.168.1.300")
    assert result.returncode == 2 and "192.168.1.300" in result.stderr


@needs_lan_address
async def test_lan_mode_says_who_is_accepted_and_refuses_other_clients(tmp_path, sandbox, caplog):
    address = lan_address()
    caplog.set_level(logging.INFO)
    async with running(tmp_path, sandbox, host="0.0.0.0",
                       allowed_clients=("10.9.9.9", "10.8.0.0/16")) as utility:
        port = utility.core.port
        assert (f"listening on the LAN at 0.0.0.0:{port}; only these clients are accepted: "
                "10.9.9.9, 10.8.0.0/16") in caplog.text
        async with (aiohttp.ClientSession(f"http://{address}:{port}") as outsider,
                    outsider.post("/api/invoice", json=invoice("L1")) as response):
            assert response.status == 403
            answer = await response.json()
        assert set(answer) == ERROR_SHAPE and set(answer["errors"]) == {"client"}
        assert f"--allow-client {address}" in answer["message"]
        status, _, _ = await utility.post(invoice("L2"))  # loopback is always allowed
        assert status == 201
        assert await utility.state_of("L1") is None


@needs_lan_address
async def test_lan_clients_on_the_list_may_use_this_computers_address(tmp_path, sandbox):
    address = lan_address()
    async with running(tmp_path, sandbox, host="0.0.0.0", allowed_clients=(f"{address}/32",),
                       allowed_hosts=("till-server",)) as utility:
        port = utility.core.port
        async with aiohttp.ClientSession(f"http://{address}:{port}") as till:
            async with till.post("/api/invoice", json=invoice("T1")) as response:
                assert response.status == 201, await response.text()
            for host in ("till-server", f"till-server:{port}"):
                async with till.get("/api/health", headers={"Host": host}) as response:
                    assert response.status == 200
            async with till.get("/api/health", headers={"Host": "evil.example"}) as response:
                assert response.status == 421
                assert "--allow-host" in (await response.json())["message"]
