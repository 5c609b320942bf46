"""One call the setup wizard makes to a Kenya authority (sign in, POS setup, device
initialisation, ProTax's /health and customer lookup), in a session of its own: the status and the
parsed JSON answer, or KenyaSetupError when the authority cannot be reached."""

import ssl as ssl_module

import aiohttp

from app.connectors.http import HEADERS, host, parse_json, short
from app.connectors.kenya_tokens import KenyaSetupError


async def setup_call(method: str, url: str, *, who: str, ssl: ssl_module.SSLContext | bool,
                     timeout: float, **request: object) -> tuple[int, object]:
    """``request``: aiohttp's data/params/headers. ``who`` names the authority in the message."""
    try:
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl),
                timeout=aiohttp.ClientTimeout(total=timeout), headers=HEADERS) as session, \
                session.request(method, url, **request) as response:
            return response.status, parse_json(await response.text(errors="replace"))
    except aiohttp.ClientConnectorCertificateError:
        raise KenyaSetupError(f"The HTTPS certificate of {host(url)} could not be verified (a "
                              "captive portal or a wrong clock on this PC can cause this).") from None
    except (aiohttp.ClientError, TimeoutError) as why:
        raise KenyaSetupError(f"Cannot reach {who} at {host(url)}: {short(why)}. Check the "
                              "address and the internet connection.") from None
