"""Random bodies at the real server: never a 5xx, always the one answer shape, nothing stored by
a refused request, and the server keeps working. Seeded, so a failure reproduces."""

import json
import random

import pytest

from tests.integration.conftest import invoice

SEED = 20261121
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain",
                 "application/json; charset=latin-1", "multipart/form-data; boundary=x", ""]


def _mutations(rng: random.Random) -> bytes:
    base = invoice(f"FZ-{rng.randrange(10**6)}")
    choice = rng.randrange(8)
    if choice == 0:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
    if choice == 1:  # truncated JSON
        text = json.dumps(base)
        return text[: rng.randrange(len(text))].encode()
    if choice == 2:  # wrong types everywhere
        for name in rng.sample(list(base), 3):
            base[name] = rng.choice([None, True, [], {}, -1, 10**30, "x" * 60, "\u0000", 1.5e308])
        return json.dumps(base).encode()
    if choice == 3:  # deep nesting
        depth = rng.randrange(10, 5000)
        return ("[" * depth + "]" * depth).encode()
    if choice == 4:  # unicode and control characters in text fields
        text = "".join(chr(rng.randrange(0, 0x10FFFF)) for _ in range(10))
        base["invoice_no"] = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return json.dumps(base, ensure_ascii=rng.random() < 0.5).encode()
    if choice == 5:  # duplicate keys
        text = json.dumps(base)[:-1] + ', "amount": -5}'
        return text.encode()
    if choice == 6:  # not an object
        return json.dumps(rng.choice([[base], "text", 42, None, True])).encode()
    return json.dumps(base).encode()  # a valid invoice now and then


@pytest.mark.parametrize("chunk", range(3))
async def test_random_bodies_never_break_the_server(utility, chunk):
    rng = random.Random(SEED + chunk)
    statuses = {}
    for _ in range(120):
        body = _mutations(rng)
        content_type = rng.choice(CONTENT_TYPES)
        headers = {"Content-Type": content_type} if content_type else {}
        async with utility.http.post("/api/invoice", data=body, headers=headers) as response:
            assert response.status < 500, (response.status, body[:200], content_type)
            answer = await response.json()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status >= 400:
                assert set(answer) == {"status", "message", "errors"}, answer
                assert answer["status"] == response.status and answer["message"]
    assert statuses.get(201, 0) > 0 and statuses.get(400, 0) > 0, statuses
    status, _, _ = await utility.post(invoice(f"AFTER-FUZZ-{chunk}"))
    assert status == 201, "the server still takes invoices after the fuzzing"
