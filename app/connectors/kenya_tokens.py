"""The KRA Agent account's tokens (docs/KENYA.md, "Credentials"; seed 002 §2.2–2.3).

One account per installation. Its keyring entry ``("kra-agent", "account", <email>)`` holds
``{"password", "access_token", "refresh_token", "access_expires_at"}``; ``load``/``save`` read and
write that JSON (blocking keyring calls, so they run in a thread). ``bearer()`` hands out an access
token that is valid for at least five more minutes: it refreshes it (``POST /auth/refresh-token``)
when it is about to expire, signs in again with the password when the refresh is refused, and
writes the new tokens back. One refresh at a time, however many sends ask at once. Tokens and the
password never appear in a message or a log line.
"""

import asyncio
import base64
import json
import ssl as ssl_module
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from app.connectors.http import Client, answer_message, form_data, parse_json

REFRESH_MARGIN = 300.0  # refresh when the access token expires within five minutes
ASSUMED_LIFETIME = 55 * 60.0  # an access token that does not say when it expires


class KenyaSetupError(Exception):
    """A setup step or a sign-in failed; ``str()`` is a message for the shopkeeper."""


class SignInFailed(KenyaSetupError):
    """The KRA Agent refused the account's password (or there is no account): a person must act."""


class TokenServiceUnavailable(Exception):
    """The KRA Agent could not be reached (or answered with a server error) while signing in:
    nothing was sent, try again later."""


def jwt_exp(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), or None when the token is not a JWT
    or has none. The signature is not checked: this is only to know when to refresh."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


def expires_at(access_token: str, obtained_at: float) -> float:
    exp = jwt_exp(access_token)
    return exp if exp is not None else obtained_at + ASSUMED_LIFETIME


def read_tokens(answer: object) -> tuple[str, str | None] | None:
    """(access_token, refresh_token) from a login/register/refresh answer: in ``data`` as the
    document shows, or at the top level. None when there is no access token."""
    if not isinstance(answer, dict):
        return None
    if answer.get("status") is False:
        return None
    for where in (answer.get("data"), answer):
        if isinstance(where, dict) and isinstance(where.get("access_token"), str) \
                and where["access_token"]:
            refresh = where.get("refresh_token")
            return where["access_token"], refresh if isinstance(refresh, str) and refresh else None
    return None


async def post_form(session: aiohttp.ClientSession, url: str, fields: dict[str, str],
                    headers: dict[str, str] | None = None) -> tuple[int, object]:
    """POST ``fields`` as multipart/form-data (curl --form, as the document shows); returns the
    HTTP status and the parsed JSON answer ({} when it is not JSON)."""
    async with session.post(url, data=form_data(fields), headers=headers) as response:
        text = await response.text(errors="replace")
        return response.status, parse_json(text)


class AgentTokens:
    """Keeps the KRA Agent account signed in (see the module's docstring)."""

    def __init__(self, base_url: str, email: str, ssl: ssl_module.SSLContext | bool,
                 load: Callable[[], dict | None], save: Callable[[dict], None], *,
                 timeout: float = 30.0, clock: Callable[[], float] = time.time):
        self.base_url = base_url.rstrip("/")
        self.email = email
        self._client = Client(ssl=ssl, limit=2, timeout=aiohttp.ClientTimeout(total=timeout),
                              keepalive=None)
        self._load = load
        self._save = save
        self._clock = clock
        self._lock = asyncio.Lock()
        self._account: dict[str, Any] | None = None
        self.refreshes = 0  # counted for tests and the log
        self.logins = 0

    async def close(self) -> None:
        await self._client.close()

    async def bearer(self) -> str:
        """A valid access token. Raises SignInFailed (a person must re-enter the password) or
        TokenServiceUnavailable (try later)."""
        async with self._lock:
            account = self._account
            if account is None:
                account = await asyncio.to_thread(self._load)
                if not isinstance(account, dict):
                    raise SignInFailed(
                        f"The KRA Agent account {self.email} could not sign in: no password is "
                        "saved for it on this computer; enter its password again in Settings.")
                account = dict(account)
                self._account = account
            token = account.get("access_token")
            expiry = account.get("access_expires_at")
            if isinstance(token, str) and token and isinstance(expiry, int | float) \
                    and expiry - self._clock() > REFRESH_MARGIN:
                return token
            if account.get("refresh_token") and await self._refresh(account):
                return account["access_token"]
            await self._login(account)
            return account["access_token"]

    async def invalidate(self) -> None:
        """The agent answered 401 to our token: the next ``bearer()`` refreshes it (and reads the
        keyring again after a refused sign-in, in case the password was re-entered meanwhile)."""
        async with self._lock:
            if self._account is None:
                loaded = await asyncio.to_thread(self._load)
                self._account = dict(loaded) if isinstance(loaded, dict) else None
            if self._account is not None:
                self._account["access_expires_at"] = 0

    async def _refresh(self, account: dict[str, Any]) -> bool:
        obtained = self._clock()
        try:
            status, answer = await post_form(self._client(), f"{self.base_url}/auth/refresh-token",
                                             {"refresh_token": str(account["refresh_token"])})
        except (aiohttp.ClientError, TimeoutError) as why:
            raise TokenServiceUnavailable(
                f"Cannot reach the KRA Agent to renew its sign-in ({type(why).__name__}); "
                "nothing was sent.") from None
        if status >= 500:
            raise TokenServiceUnavailable(
                f"The KRA Agent answered {status} while renewing its sign-in; nothing was sent.")
        if status == 429:
            raise TokenServiceUnavailable("The KRA Agent asked to slow down while renewing its "
                                          "sign-in; nothing was sent.")
        tokens = read_tokens(answer) if 200 <= status < 300 else None
        if tokens is None:
            return False  # refused: sign in again with the password
        self.refreshes += 1
        await self._store(account, tokens, obtained)
        return True

    async def _login(self, account: dict[str, Any]) -> None:
        password = account.get("password")
        if not isinstance(password, str) or not password:
            self._account = None
            raise SignInFailed(f"The KRA Agent account {self.email} could not sign in: no password "
                               "is saved for it; enter its password again in Settings.")
        obtained = self._clock()
        try:
            status, answer = await post_form(self._client(), f"{self.base_url}/auth/login",
                                             {"email": self.email, "password": password})
        except (aiohttp.ClientError, TimeoutError) as why:
            raise TokenServiceUnavailable(
                f"Cannot reach the KRA Agent to sign in ({type(why).__name__}); nothing was "
                "sent.") from None
        if status >= 500 or status == 429:
            raise TokenServiceUnavailable(
                f"The KRA Agent answered {status} while signing in; nothing was sent.")
        tokens = read_tokens(answer) if 200 <= status < 300 else None
        if tokens is None:
            self._account = None  # read the keyring again next time (a new password)
            raise SignInFailed(
                f"The KRA Agent account {self.email} could not sign in: "
                f"{answer_message(answer, status)}; enter its password again in Settings.")
        self.logins += 1
        await self._store(account, tokens, obtained)

    async def _store(self, account: dict[str, Any], tokens: tuple[str, str | None],
                     obtained: float) -> None:
        access, refresh = tokens
        account["access_token"] = access
        if refresh:
            account["refresh_token"] = refresh
        account["access_expires_at"] = expires_at(access, obtained)
        await asyncio.to_thread(self._save, dict(account))
