"""The KRA Agent sandbox's state, kept in kra_agent.json so a restart keeps everything.

One JSON object, rewritten atomically (temporary file + rename, no fsync: a sandbox outlives
its own restarts, not the machine's) after every change: users,
refresh tokens, POS devices, products, sales and credit notes, purchases, stock I/O, stock
master, the answers remembered per requestID, arrival counts and the id counters. Numbers
are exact Decimals (rules.dumps), never floats. Also the token maker: access tokens are
JWT-shaped (HS256 over a secret kept in the same file), refresh tokens opaque and single-use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.sandbox.rules import dumps

log = logging.getLogger(__name__)

STATE_FILE = "kra_agent.json"
# The seed writes the test account's address obfuscated ("[email protected]"); this one is ours.
DEFAULT_EMAIL = "test@example.com"
DEFAULT_PASSWORD = "Test@123_*25"
DEFAULT_ORGANIZATION = "Test Organization"
# First ids, close to the seed's examples.
FIRST_IDS = {"user": 7, "pos": 4, "product": 13, "sale": 1056138, "sale_item": 1056138,
             "purchase": 20006, "stock": 5, "stock_item": 1, "stock_master": 4}


def _empty() -> dict[str, Any]:
    return {
        "secret": secrets.token_hex(32),
        "ids": dict(FIRST_IDS),
        "users": {},  # str(id) -> {id, name, email, password, reset_token}
        "refresh": {},  # refresh token -> user id
        "pos": {},  # str(id) -> POS fields, client_id, client_secret, device
        "products": {},  # str(id) -> product
        "sales": {},  # str(sale_id) -> sale or credit note
        "checker": {},  # invoice-checker token -> sale_id
        "purchases": {},
        "stock_io": {},
        "stock_master": {},
        "replies": {},  # "<client>|<path>|<requestID>" -> [status, body]
        "counts": {},  # "<kind>|<key>" -> requests received
        "requests": {},  # endpoint path -> requests received
        "total": 0,
    }


class Store:
    """The whole state as plain JSON-able dicts; `save()` after each change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = _empty()
        if path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
                if not isinstance(loaded, dict):
                    raise ValueError("not an object")
                self.state.update(loaded)
                self.state["ids"] = {**FIRST_IDS, **self.state["ids"]}
            except (OSError, ValueError) as why:
                log.warning("%s is damaged (%s); starting afresh", path, why)
        if not self.state["users"]:
            self.add_user(DEFAULT_ORGANIZATION, DEFAULT_EMAIL, DEFAULT_PASSWORD)

    def __getitem__(self, name: str) -> Any:
        return self.state[name]

    def next_id(self, kind: str) -> int:
        value = int(self.state["ids"][kind])
        self.state["ids"][kind] = value + 1
        return value

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(dumps(self.state))
        os.replace(tmp, self.path)

    # -- users and tokens ------------------------------------------------------------

    def add_user(self, name: str, email: str, password: str) -> dict[str, Any]:
        user_id = self.next_id("user")
        user = {"id": user_id, "name": name, "email": email, "password": _hash(password)}
        self.state["users"][str(user_id)] = user
        self.save()
        return user

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        for user in self.state["users"].values():
            if user["email"].lower() == wanted:
                return user
        return None

    def password_ok(self, user: dict[str, Any], password: str) -> bool:
        return hmac.compare_digest(user["password"], _hash(password))

    def set_password(self, user: dict[str, Any], password: str) -> None:
        user["password"] = _hash(password)
        user.pop("reset_token", None)
        self.save()

    def issue_tokens(self, user_id: int, lifetime: float) -> tuple[str, str]:
        """A new (access token, refresh token) pair for a user."""
        now = time.time()
        header = _b64({"typ": "JWT", "alg": "HS256"})
        payload = _b64({"iss": "kra-agent-sandbox", "sub": str(user_id), "iat": int(now),
                        "exp": round(now + lifetime, 3), "jti": secrets.token_hex(8)})
        signature = _sign(self.state["secret"], f"{header}.{payload}")
        refresh = secrets.token_urlsafe(40)
        self.state["refresh"][refresh] = user_id
        self.save()
        return f"{header}.{payload}.{signature}", refresh

    def use_refresh(self, token: str) -> int | None:
        """The user a refresh token belongs to, consuming it (None: unknown or used)."""
        user_id = self.state["refresh"].pop(token, None)
        if user_id is not None:
            self.save()
        return user_id

    def check_access(self, token: str) -> tuple[int | None, str]:
        """(user id, "") for a good access token, else (None, why)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None, "Invalid token"
        expected = _sign(self.state["secret"], f"{parts[0]}.{parts[1]}")
        if not hmac.compare_digest(expected, parts[2]):
            return None, "Invalid token"
        try:
            payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            user_id, expires = int(payload["sub"]), float(payload["exp"])
        except (ValueError, KeyError, TypeError):
            return None, "Invalid token"
        if time.time() >= expires:
            return None, "Token expired"
        if str(user_id) not in self.state["users"]:
            return None, "Invalid token"
        return user_id, ""

    # -- POS devices ------------------------------------------------------------------

    def pos_by_client(self, client_id: str, client_secret: str) -> dict[str, Any] | None:
        for pos in self.state["pos"].values():
            if pos["client_id"] == client_id:
                if hmac.compare_digest(pos["client_secret"].encode(), client_secret.encode()):
                    return pos
                return None
        return None

    # -- counting ----------------------------------------------------------------------

    def note_request(self, path: str, keys: list[tuple[str, str]]) -> None:
        self.state["total"] += 1
        requests = self.state["requests"]
        requests[path] = requests.get(path, 0) + 1
        for kind, key in keys:
            name = f"{kind}|{key}"
            self.state["counts"][name] = self.state["counts"].get(name, 0) + 1
        self.save()

    def received_count(self, kind: str, key: object) -> int:
        return int(self.state["counts"].get(f"{kind}|{key}", 0))


def _hash(password: str) -> str:
    return hashlib.sha256(("kra-agent-sandbox:" + password).encode()).hexdigest()


def _b64(obj: dict[str, Any]) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
