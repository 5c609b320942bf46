"""The KRA Agent sandbox's endpoints, part 1: shared checks, /auth/*, /pos/*, the device.

Which credentials an endpoint needs follows the seed's examples: /auth/* nothing; /pos/*
`Authorization: Bearer <access token>`; the device, read and credit-note endpoints
`Client-ID` + `Client-Secret` + `Authorization`; /sale, /productSave, /insertTrnsPurchase,
/insertStockIO, /saveStockMaster only `Client-ID` + `Client-Secret`. `Authorization` is taken
as "Bearer <token>" or as the bare token: the seed shows both. With a token next to client
credentials, the token's user must own the POS.
"""

from __future__ import annotations

import secrets
import string
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from app.sandbox.kra_agent_checks import Errors, add, check_pos
from app.sandbox.kra_agent_views import device_view, pos_view
from app.sandbox.rules import json_response

if TYPE_CHECKING:
    from app.sandbox.kra_agent import KraAgentSandbox

CMC_PLACEHOLDER = "optional_if_device_has_not_been_initialized"
# The request's form fields and why its body was unreadable (None when fine), read once by
# the middleware (kra_agent.py) before faults and counting.
FORM: web.RequestKey[tuple[dict[str, str], str | None]] = web.RequestKey("kra_agent_form", tuple)


def form_of(request: web.Request) -> dict[str, str]:
    return request.get(FORM, ({}, None))[0]


class Refused(Exception):
    """Raised by a check; the handler's answer is this response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def fail(status: int, message: str, errors: Errors | None = None,
         headers: dict[str, str] | None = None) -> web.Response:
    """The one error shape: {"status": false, "message", ["errors"]} (the seed shows none)."""
    payload: dict[str, Any] = {"status": False, "message": message}
    if errors:
        payload["errors"] = errors
    return json_response(payload, status, headers)


def invalid(errors: Errors) -> Refused:
    first = next(iter(errors.values()))[0]
    more = sum(len(v) for v in errors.values()) - 1
    message = first + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")
    return Refused(fail(422, message, errors))


class AuthApi:
    """Handlers for /auth/*, /pos/* and /selectInitOsdcInfo, plus the shared checks."""

    def __init__(self, sandbox: KraAgentSandbox) -> None:
        self.sandbox = sandbox
        self.store = sandbox.store

    # -- shared checks ------------------------------------------------------------------

    @staticmethod
    def form(request: web.Request) -> dict[str, str]:
        form, problem = request.get(FORM, ({}, None))
        if problem:
            raise Refused(fail(422, problem, {"body": [problem]}))
        return form

    @staticmethod
    def required(form: dict[str, str], *names: str) -> list[str]:
        errors: Errors = {}
        for name in names:
            if not form.get(name, "").strip():
                add(errors, name, f"The {name} field is required.")
        if errors:
            raise invalid(errors)
        return [form[name].strip() for name in names]

    def user(self, request: web.Request) -> int:
        """The user of the request's access token ("Bearer <token>" or the bare token)."""
        header = request.headers.get("Authorization", "").strip()
        token = header[7:].strip() if header[:7].lower() == "bearer " else header
        if not token:
            raise Refused(fail(401, "Unauthenticated."))
        user_id, why = self.store.check_access(token)
        if user_id is None:
            raise Refused(fail(401, why))
        return user_id

    def pos(self, request: web.Request, *, token: bool) -> dict[str, Any]:
        """The POS named by Client-ID + Client-Secret (and owned by the token's user)."""
        client_id = request.headers.get("Client-ID", "").strip()
        client_secret = request.headers.get("Client-Secret", "").strip()
        if not client_id or not client_secret:
            raise Refused(fail(401, "The Client-ID and Client-Secret headers are required."))
        pos = self.store.pos_by_client(client_id, client_secret)
        if pos is None:
            raise Refused(fail(401, "Invalid client credentials."))
        if token and self.user(request) != pos["user_id"]:
            raise Refused(fail(401, "This POS does not belong to the authenticated user."))
        return pos

    def replayed(self, request: web.Request, scope: str) -> web.Response | None:
        """The first answer to this requestID, when there was one."""
        request_id = form_of(request).get("requestID", "").strip()
        if not request_id:
            return None
        stored = self.store["replies"].get(f"{scope}|{request.path}|{request_id}")
        if stored is None:
            return None
        return json_response(stored[1], int(stored[0]))

    def remember(self, request: web.Request, scope: str, payload: dict[str, Any],
                 status: int = 200) -> web.Response:
        """Keep a successful answer for its requestID (errors are not kept: a retry after a
        fix, with the same requestID, must be handled afresh), and save."""
        request_id = form_of(request).get("requestID", "").strip()
        if request_id:
            self.store["replies"][f"{scope}|{request.path}|{request_id}"] = [status, payload]
        self.store.save()
        return json_response(payload, status)

    # -- /auth ----------------------------------------------------------------------------

    def _session(self, user: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
        access, refresh = self.store.issue_tokens(user["id"], self.sandbox.token_lifetime)
        return {"id": user["id"], "name": user["name"], "email": user["email"]}, access, refresh

    def _signed_in(self, user: dict[str, Any]) -> web.Response:
        """/auth/login's answer: the user and a new access + refresh token."""
        shown, access, refresh = self._session(user)
        data = {"user": shown, "user_id": user["id"], "access_token": access,
                "refresh_token": refresh}
        return json_response({"status": True, "data": data})

    async def register(self, request: web.Request) -> web.Response:
        name, email, password = self.required(self.form(request), "organization_name", "email",
                                              "password")
        if "@" not in email:
            raise invalid({"email": ["The email field must be a valid email address."]})
        if self.store.user_by_email(email) is not None:
            raise invalid({"email": ["The email has already been taken."]})
        user, access, refresh = self._session(self.store.add_user(name, email, password))
        data = {"user_id": user["id"], "user": user, "access_token": access,
                "refresh_token": refresh}
        return json_response({"status": True, "data": data})

    async def login(self, request: web.Request) -> web.Response:
        email, password = self.required(self.form(request), "email", "password")
        user = self.store.user_by_email(email)
        if user is None or not self.store.password_ok(user, password):
            raise Refused(fail(401, "Invalid credentials."))
        return self._signed_in(user)

    async def refresh(self, request: web.Request) -> web.Response:
        """The seed shows no answer: we answer like /auth/login (new access + refresh token)."""
        (token,) = self.required(self.form(request), "refresh_token")
        user_id = self.store.use_refresh(token)
        user = self.store["users"].get(str(user_id)) if user_id is not None else None
        if user is None:
            raise Refused(fail(401, "Invalid refresh token."))
        return self._signed_in(user)

    async def forgot_password(self, request: web.Request) -> web.Response:
        (email,) = self.required(self.form(request), "email")
        user = self.store.user_by_email(email)
        if user is None:
            raise invalid({"email": ["We can't find a user with that email address."]})
        user["reset_token"] = f"{secrets.randbelow(10**6):06d}"  # the "e-mailed" OTP
        self.store.save()
        return json_response({"status": True, "message": "Reset password email sent successfully."})

    async def reset_password(self, request: web.Request) -> web.Response:
        form = self.form(request)
        email, token, password, confirmation = self.required(
            form, "email", "token", "password", "password_confirmation")
        user = self.store.user_by_email(email)
        if password != confirmation:
            raise invalid({"password": ["The password field confirmation does not match."]})
        expected = user.get("reset_token") if user else None
        if not expected or not secrets.compare_digest(expected, token):
            raise invalid({"token": ["This password reset token is invalid."]})
        assert user is not None
        self.store.set_password(user, password)
        # The seed's answer, word for word (it repeats forgot-password's message).
        return json_response({"status": True, "message": "Reset password email sent successfully."})

    # -- /pos -----------------------------------------------------------------------------

    def add_pos(self, user_id: int, fields: dict[str, str]) -> dict[str, Any]:
        pos_id = self.store.next_id("pos")
        cmc = fields.get("cmcKey", "")
        pos = {
            **fields, "id": pos_id, "user_id": user_id,
            "cmcKey": "" if cmc in ("", CMC_PLACEHOLDER) else cmc,
            "client_id": str(uuid.uuid4()),
            "client_secret": "".join(secrets.choice(string.ascii_lowercase) for _ in range(40)),
            "created": time.time(), "device": None,
        }
        self.store["pos"][str(pos_id)] = pos
        self.store.save()
        return pos

    def same_device(self, fields: dict[str, str]) -> dict[str, Any] | None:
        """The POS already set up for this PIN, branch and device serial number."""
        key = [fields[name].strip() for name in ("kra_pin", "branch_id", "dvc_srl_no")]
        for pos in self.store["pos"].values():
            if [str(pos[name]).strip() for name in ("kra_pin", "branch_id", "dvc_srl_no")] == key:
                return pos
        return None

    async def pos_setup(self, request: web.Request) -> web.Response:
        """New POS; with `pos_id` an update (the seed's update example posts here). The same
        PIN + branch + dvc_srl_no again is the same POS: its fields are updated and its
        Client-ID/Client-Secret answered again (undocumented)."""
        user_id = self.user(request)
        form = self.form(request)
        if form.get("pos_id", "").strip():
            return await self.pos_update(request)
        errors: Errors = {}
        fields = check_pos(form, errors)
        if errors:
            raise invalid(errors)
        pos = self.same_device(fields)
        if pos is None:
            pos = self.add_pos(user_id, fields)
        elif pos["user_id"] != user_id:
            raise invalid({"dvc_srl_no": ["This device is set up by another account."]})
        else:  # set up again (e.g. after a refused Client-Secret): same POS, same credentials
            if fields["cmcKey"] in ("", CMC_PLACEHOLDER):
                fields["cmcKey"] = pos["cmcKey"]
            pos.update(fields)
            self.store.save()
        data = {"clientId": pos["client_id"], "clientSecret": pos["client_secret"]}
        return json_response({"status": True, "data": data})

    async def pos_update(self, request: web.Request) -> web.Response:
        user_id = self.user(request)
        form = self.form(request)
        (pos_id,) = self.required(form, "pos_id")
        pos = self.store["pos"].get(pos_id)
        if pos is None or pos["user_id"] != user_id:
            raise Refused(fail(404, "POS not found."))
        errors: Errors = {}
        fields = check_pos({**pos, **{k: v for k, v in form.items() if v.strip()}}, errors)
        if errors:
            raise invalid(errors)
        if fields["cmcKey"] == CMC_PLACEHOLDER:
            fields["cmcKey"] = pos["cmcKey"]
        pos.update(fields)
        self.store.save()
        return json_response({"status": True, "data": {"pos": pos_view(pos)}})

    async def pos_index(self, request: web.Request) -> web.Response:
        user_id = self.user(request)
        mine = [pos_view(p) for p in self.store["pos"].values() if p["user_id"] == user_id]
        return json_response({"status": True, "data": {"pos": mine}})

    async def init_device(self, request: web.Request) -> web.Response:
        """POST /selectInitOsdcInfo: the device is "verified" at KRA on the first call."""
        pos = self.pos(request, token=True)
        if pos["device"] is None:
            number = int(pos["id"])
            alphabet = string.ascii_letters + string.digits
            pos["device"] = {
                "dvcId": f"9999911{number:09d}", "sdicId": f"KRACU0{number:08d}",
                "mrcNo": f"WIS0{number:07d}", "at": time.time(),
                "api_key": "".join(secrets.choice(alphabet) for _ in range(32)).lower(),
            }
            if not pos["cmcKey"]:
                pos["cmcKey"] = "".join(secrets.choice(alphabet) for _ in range(32))
            self.store.save()
        return json_response({"status": True, "message": "Device verified successfully",
                              "device": device_view(pos)})
