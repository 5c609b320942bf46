"""What the three sandboxes (kpra.py, kra_agent.py, protax.py) share: two listening ports.

`SandboxServer` runs a sandbox's HTTPS site (own CA, tls.py) and its plain-HTTP control site,
counts the client connections and the requests in flight, simulates an outage (`set_down`
stops the HTTPS site; connections are refused until it is back on the same port) and applies
the fault plan (faults.py) around a request in the same order for every sandbox.
`ControlRoutes` holds the /_sandbox/ handlers they share (faults, down, the JSON body, the
403 "HTTPS required" answer for everything else), each sandbox answering in its API's shape.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, Self

from aiohttp import web

from app.sandbox.faults import Fault, FaultDecision, FaultPlan
from app.sandbox.rules import json_response
from app.sandbox.tls import TlsFiles, ensure_certificates, server_ssl_context

__all__ = ["ControlRoutes", "SandboxServer", "url_host"]

SHUTDOWN_TIMEOUT = 2.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Reads and counts an arriving request: what `Respond` needs, or a response to send at once.
Arrive = Callable[[web.Request], Awaitable[Any]]
Respond = Callable[[web.Request, FaultDecision, Any], Awaitable[web.StreamResponse]]


class SandboxServer:
    """An HTTPS site and a plain-HTTP control site, with outages and connection counts.

    A sandbox provides `_https_app()` (its API) and `_control_app()` (its /_sandbox/ routes);
    `_on_start()` runs once both ports listen.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.faults = FaultPlan()
        self._tls: TlsFiles | None = None
        self._ssl: ssl.SSLContext | None = None
        self._https_runner: web.AppRunner | None = None
        self._http_runner: web.AppRunner | None = None
        self._https_site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._ports: tuple[int, int] | None = None
        self._down_lock = asyncio.Lock()
        self._in_flight = 0
        self._peers: set[object] = set()  # client (address, port) of every connection seen

    # -- what a sandbox provides ------------------------------------------------------

    def _https_app(self) -> web.Application:
        raise NotImplementedError

    def _control_app(self) -> web.Application:
        raise NotImplementedError

    def _on_start(self) -> None:
        """Called once both ports listen (e.g. to finish work left from the last run)."""

    # -- Python API -------------------------------------------------------------------

    @property
    def connections_seen(self) -> int:
        """How many client connections have made requests to the HTTPS port since start
        (each a TLS handshake): a client that reuses connections makes few."""
        return len(self._peers)

    @property
    def in_flight(self) -> int:
        """Requests the HTTPS port is handling right now (e.g. held or slowed by a fault)."""
        return self._in_flight

    @property
    def https_port(self) -> int:
        return self._started()[0]

    @property
    def http_port(self) -> int:
        return self._started()[1]

    @property
    def origin(self) -> str:
        """https://127.0.0.1:PORT (what the KRA Agent seed calls BASE_URL)."""
        return f"https://{url_host(self._host)}:{self.https_port}"

    @property
    def control_url(self) -> str:
        return f"http://{url_host(self._host)}:{self.http_port}/_sandbox"

    @property
    def ca_file(self) -> Path:
        """The CA certificate a client must trust (exists once started)."""
        if self._tls is None:
            raise RuntimeError("sandbox not started")
        return self._tls.ca_pem

    @property
    def tls_dir(self) -> Path:
        """Where its certificates are kept (tls.py: made at the first start, then reused)."""
        return self.data_dir / "tls"

    @property
    def down(self) -> bool:
        return self.faults.down

    async def start(self, host: str = "127.0.0.1", port: int = 0, http_port: int = 0) -> None:
        """Listen: HTTPS on `port`, plain-HTTP control on `http_port` (0 = any)."""
        if self._https_runner is not None:
            raise RuntimeError("sandbox already started")
        self._host = "127.0.0.1" if host == "localhost" else host
        self._tls = await asyncio.to_thread(ensure_certificates, self.tls_dir)
        self._ssl = server_ssl_context(self._tls)
        self._https_runner = web.AppRunner(self._https_app(), shutdown_timeout=SHUTDOWN_TIMEOUT)
        self._http_runner = web.AppRunner(self._control_app(), shutdown_timeout=SHUTDOWN_TIMEOUT)
        try:
            await self._https_runner.setup()
            await self._http_runner.setup()
            https_port = await self._open_https(port)
            http_site = web.TCPSite(self._http_runner, self._host, http_port)
            await http_site.start()
            self._ports = (https_port, http_site.port)
            self.faults.down = False
            self._on_start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close both ports and every open connection."""
        runners = (self._http_runner, self._https_runner)
        self._http_runner = self._https_runner = self._https_site = None
        self._ports = None
        for runner in runners:
            if runner is not None:
                await runner.cleanup()

    async def set_down(self, down: bool) -> None:
        """Simulate an outage: stop the HTTPS site (connections refused) or bring it back on
        the same port."""
        async with self._down_lock:
            runner = self._https_runner
            if runner is None or runner.server is None or self._ports is None:
                raise RuntimeError("sandbox not started")
            if down:
                self.faults.down = True
                if self._https_site is not None:
                    await self._https_site.stop()
                    self._https_site = None
                for connection in runner.server.connections:
                    connection.force_close()
            else:
                if self._https_site is None:
                    await self._open_https(self._ports[0])
                self.faults.down = False

    async def reset_faults(self) -> None:
        """Clear every fault, including an outage started with `set_down(True)`."""
        self.faults.reset()
        if self._ports is not None:
            await self.set_down(False)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _started(self) -> tuple[int, int]:
        if self._ports is None:
            raise RuntimeError("sandbox not started")
        return self._ports

    async def _open_https(self, port: int) -> int:
        assert self._https_runner is not None
        site = web.TCPSite(self._https_runner, self._host, port, ssl_context=self._ssl)
        await site.start()
        self._https_site = site
        return site.port

    # -- around each HTTPS request ----------------------------------------------------

    async def _counted(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """`handler(request)`, counted in `in_flight` and its connection in `connections_seen`."""
        self._in_flight += 1
        transport = request.transport
        if transport is not None:
            self._peers.add(transport.get_extra_info("peername"))
        try:
            return await handler(request)
        finally:
            self._in_flight -= 1

    async def _faulted(self, request: web.Request, arrive: Arrive,
                       respond: Respond) -> web.StreamResponse:
        """Faults first (one `take()` per request), then `arrive` (read and count the request;
        a response it returns is sent at once), then `respond`, slowed or cut as armed."""
        decision = self.faults.take()
        if decision.fault is Fault.DOWN:
            request.protocol.force_close()
            return web.Response()
        arrival = await arrive(request)
        if isinstance(arrival, web.StreamResponse):
            return arrival
        if decision.fault is Fault.RESET:
            # The connection breaks before the request is handled: nothing recorded.
            request.protocol.force_close()
            return web.Response()
        if decision.hold > 0:
            # Stuck on the way in: the client may give up; the request is handled anyway.
            await asyncio.sleep(decision.hold)
        response = await respond(request, decision, arrival)
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        if decision.fault is Fault.DROP:
            # Handled (maybe recorded); the answer is lost on the way back.
            request.protocol.force_close()
        return response


class ControlRoutes:
    """The /_sandbox/ handlers every sandbox has, answering in the sandbox's shape.

    A sandbox's subclass provides `status` and its own routes, and may change
    `error_payload` (a 400's body) and `HTTPS_REQUIRED` (the 403 body for anything else).
    """

    HTTPS_REQUIRED: ClassVar[dict[str, Any]] = {"status": 403, "message": "HTTPS required"}
    # /faults and /down answer GET and POST, or (True) every method (only POST changes things).
    ANY_METHOD_READS: ClassVar[bool] = False

    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox

    def app(self, routes: list[web.RouteDef]) -> web.Application:
        """The plain-HTTP application: GET /_sandbox (`status`), GET|POST /_sandbox/faults
        and /_sandbox/down, the sandbox's own `routes`, then 403 "HTTPS required"."""
        shared: list[web.RouteDef] = []
        for path, handler in (("/_sandbox/faults", self.faults), ("/_sandbox/down", self.down)):
            if self.ANY_METHOD_READS:
                shared.append(web.route("*", path, handler))
            else:
                shared += [web.get(path, handler), web.post(path, handler)]
        app = web.Application()
        app.router.add_routes([web.get("/_sandbox", self.status), *shared, *routes,
                               web.route("*", "/{tail:.*}", self.https_required)])
        return app

    async def status(self, request: web.Request) -> web.Response:
        """GET /_sandbox: the sandbox's URLs, faults and counts."""
        raise NotImplementedError

    def error_payload(self, message: str) -> dict[str, Any]:
        return {"error": message}

    def error(self, message: str) -> web.Response:
        """A 400 naming what was wrong with a control request."""
        return json_response(self.error_payload(message), 400)

    async def body(self, request: web.Request) -> dict[str, Any]:
        """A control route's JSON object body (empty body = {}), or a 400."""
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = json.dumps(self.error_payload("body must be a JSON object"))
            raise web.HTTPBadRequest(text=text, content_type="application/json")
        return body

    async def faults(self, request: web.Request) -> web.Response:
        """The fault plan; a POST applies changes first ("down" too, "reset" ends an outage)."""
        if request.method == "POST":
            changes = await self.body(request)
            down = changes.pop("down", None)
            if down is not None and not isinstance(down, bool):
                return self.error("down: must be true or false")
            try:
                self.sandbox.faults.apply(changes)
            except ValueError as exc:
                return self.error(str(exc))
            if down is not None or changes.get("reset") is True:
                await self.sandbox.set_down(bool(down))
        return json_response(self.sandbox.faults.snapshot())

    async def down(self, request: web.Request) -> web.Response:
        """{"down": true | false}: a POST starts or ends an outage."""
        if request.method == "POST":
            down = (await self.body(request)).get("down")
            if not isinstance(down, bool):
                return self.error("down: must be true or false")
            await self.sandbox.set_down(down)
        return json_response({"down": self.sandbox.down})

    async def https_required(self, request: web.Request) -> web.Response:
        return json_response(self.HTTPS_REQUIRED, 403)


def url_host(host: str) -> str:
    """The address clients should use for a bind address (the cert covers these)."""
    if host in ("", "0.0.0.0", "127.0.0.1"):
        return "127.0.0.1"
    if host in ("::", "::1"):
        return "[::1]"
    return f"[{host}]" if ":" in host else host
