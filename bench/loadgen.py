"""Open-loop load generator for the benchmarks: new invoices posted to POST /api/invoice at a
steady rate over a few keep-alive connections (aiohttp), each request in its own time slot, so a
slow answer shows as latency instead of lowering the rate (what tills at that rate would see).

    python bench/loadgen.py URL RATE SECONDS CONNECTIONS RUN_ID   → one JSON line of figures

Run it in a process of its own, so it does not share an interpreter with what it measures.
"""

import asyncio
import json
import sys
import time

NTN, POS_ID, KEY = "K123456", "K123456", "KPRA@123a"  # the sandboxes' (and practice mode's) POS


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0–100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def generate(url: str, rate: float, seconds: float, connections: int, run_id: str) -> dict:
    import aiohttp

    total = max(1, round(rate * seconds))
    template = {"ntn": NTN, "pos_id": POS_ID, "key": KEY, "amount": "200.00", "tax_rate": 16,
                "tax_amount": "32.00", "total_amount": "232.00",
                "date_time": "2026-11-21 10:00:00", "payment_mode": 1}
    headers = {"Content-Type": "application/json"}
    service: list[float] = []  # send → answer
    from_slot: list[float] = []  # the request's time slot → answer (what a till at this rate sees)
    statuses: dict[str, int] = {}
    next_index = 0
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # open every connection before the clock starts (a warm-up invoice each)
        async def warm(k: int) -> None:
            body = json.dumps(template | {"invoice_no": f"{run_id}-warm-{k}"}).encode()
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
        await asyncio.gather(*(warm(k) for k in range(connections)))
        t0 = time.monotonic() + 0.05
        wall0 = time.time() + 0.05
        cpu0 = time.process_time()

        async def worker() -> None:
            nonlocal next_index
            while next_index < total:
                i = next_index
                next_index += 1
                slot = t0 + i / rate
                delay = slot - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                body = json.dumps(template | {"invoice_no": f"{run_id}-{i}"}).encode()
                sent = time.monotonic()
                try:
                    async with session.post(url, data=body, headers=headers) as answer:
                        await answer.read()
                        status = str(answer.status)
                except (aiohttp.ClientError, TimeoutError) as why:
                    status = type(why).__name__
                done = time.monotonic()
                statuses[status] = statuses.get(status, 0) + 1
                service.append(done - sent)
                from_slot.append(done - slot)

        await asyncio.gather(*(worker() for _ in range(connections)))
        t1 = time.monotonic()
    ok = statuses.get("201", 0)
    return {"start": t0, "end": t1, "wall_start": wall0, "wall_end": wall0 + (t1 - t0),
            "offered_rate": rate, "requests": total, "created": ok,
            "cpu": (time.process_time() - cpu0) / (t1 - t0),
            "statuses": statuses, "achieved_rate": ok / (t1 - t0),
            "service_p50_ms": percentile(service, 50) * 1000,
            "service_p99_ms": percentile(service, 99) * 1000,
            "slot_p99_ms": percentile(from_slot, 99) * 1000,
            "max_ms": max(from_slot) * 1000}


def main(argv: list[str]) -> None:
    url, rate, seconds, connections, run_id = argv
    result = asyncio.run(generate(url, float(rate), float(seconds), int(connections), run_id))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
