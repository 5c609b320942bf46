"""Random bodies at the Kenya routes of the real server (ProTax mode, sending paused): never a
5xx, always the one answer shape with the bad fields named, and nothing already accepted is
lost or changed. Seeded, so a failure reproduces."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.harness import Running
from tests.contract.upstreams import ALL, SOLD_AT

SEED = 20261122
ROUTES = ("/api/invoice", "/api/credit-note", "/api/item", "/api/stock")
NASTY = [None, True, [], {}, -1, 0, 10**30, "x" * 300, "\u0000", 1.5e308, "1e999", "NaN", "", " "]


@pytest.fixture
async def kenya(tmp_path: Path) -> AsyncIterator[Running]:
    upstream = ALL["protax"]
    sandbox = await upstream.start_sandbox(tmp_path / "sandbox")
    data_dir = tmp_path / "data"
    await upstream.configure(data_dir, sandbox)
    running = await Running(upstream, sandbox, data_dir, sending_paused=True).start()
    yield running
    await running.stop()
    await sandbox.stop()
    upstream.forget()


def _bodies(auth: dict) -> dict[str, dict]:
    return {
        "/api/invoice": {**auth, "invoice_no": "FZ-1", "date_time": SOLD_AT, "items": [
            {"item_code": "FZ-ITEM", "item_name": "Fuzz item", "quantity": 2, "unit_price": 100,
             "tax_type": "A"}]},
        "/api/credit-note": {**auth, "credit_note_no": "FZCN-1", "original_invoice_no": "BASE-1",
                             "reason": "Goods returned", "items": [
                                 {"item_code": "BASE-ITEM", "quantity": 1}]},
        "/api/item": {**auth, "item_name": "Fuzz thing", "item_class_code": "99111002",
                      "pkg_unit": "NT", "qty_unit": "U", "tax_type": "B", "unit_price": 50},
        "/api/stock": {**auth, "item_code": "BASE-ITEM", "adjustment_type": "IN",
                       "quantity": 5, "date": SOLD_AT[:10], "reference": "FZ-GRN"},
    }


def _mutate(rng: random.Random, body: dict, serial: int) -> bytes:
    body = copy.deepcopy(body)
    for name in ("invoice_no", "credit_note_no", "reference"):
        if name in body:
            body[name] = f"{body[name]}-{serial}"
    choice = rng.randrange(7)
    if choice == 0:  # bad values in top-level fields
        for name in rng.sample(list(body), min(3, len(body))):
            body[name] = rng.choice(NASTY)
    elif choice == 1 and isinstance(body.get("items"), list):  # bad values inside a line
        line = body["items"][0]
        for name in rng.sample(list(line), min(2, len(line))):
            line[name] = rng.choice(NASTY)
    elif choice == 2 and "items" in body:  # items of the wrong shape
        body["items"] = rng.choice([None, "x", {}, [1, 2], [None], [[]], [{}] * 1001])
    elif choice == 3:  # truncated JSON
        text = json.dumps(body)
        return text[: rng.randrange(len(text))].encode()
    elif choice == 4:  # not an object
        return json.dumps(rng.choice([[body], "text", 42, None])).encode()
    elif choice == 5:  # a field dropped
        body.pop(rng.choice(list(body)))
    return json.dumps(body).encode()  # choice 6 (and fall-throughs): maybe valid


async def _post(utility: Running, route: str, body: dict) -> tuple[int, dict]:
    assert utility.http is not None
    async with utility.http.post(route, json=body) as response:
        return response.status, await response.json()


async def _snapshot(utility: Running) -> dict[str, Any]:
    out = {}
    for number in ("BASE-1", "item:BASE-ITEM"):
        data = await utility.status_of(number)
        out[number] = {k: data.get(k) for k in ("state", "detail", "amount", "total_amount",
                                                "tax_amount", "kind")}
    return out


@pytest.mark.parametrize("chunk", range(2))
async def test_random_kenya_bodies_never_break_the_server(kenya, chunk):
    auth = kenya.upstream.till_auth()
    status, answer = await _post(kenya, "/api/invoice", {
        **auth, "invoice_no": "BASE-1", "date_time": SOLD_AT, "items": [
            {"item_code": "BASE-ITEM", "item_name": "Base item", "quantity": 3,
             "unit_price": 1000, "tax_type": "A"}]})
    assert status in (201, 200), answer
    before = await _snapshot(kenya)
    rng = random.Random(SEED + chunk)
    bodies = _bodies(auth)
    statuses: dict[int, int] = {}
    for serial in range(160):
        route = rng.choice(ROUTES)
        raw = _mutate(rng, bodies[route], serial)
        assert kenya.http is not None
        async with kenya.http.post(route, data=raw,
                                   headers={"Content-Type": "application/json"}) as response:
            assert response.status < 500, (route, response.status, raw[:300])
            answer = await response.json()
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.status >= 400:
            assert set(answer) == {"status", "message", "errors"}, answer
            assert answer["status"] == response.status and answer["message"]
            if response.status in (400, 422):
                assert answer["errors"], f"{route}: no field named in {answer}"
    assert statuses.get(201, 0) > 0 and statuses.get(400, 0) > 0, statuses
    assert await _snapshot(kenya) == before, "something already accepted changed"
