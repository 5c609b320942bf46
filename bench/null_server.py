"""Baseline for bench/intake.py: aiohttp with a handler that reads the body and answers a fixed
201, served the way `rims-utility serve` serves (one loop in the main thread, no access log)."""

import sys

from aiohttp import web

ANSWER = (b'{"status":201,"message":"Invoice saved.","data":{"invoice_no":"1","pos_id":"K123456",'
          b'"date_time":"2026-11-21 10:00:00","state":"queued","transaction_id":null,'
          b'"qr_url":"https://kpra.gov.pk/api/?pos_id=K123456&invoice_no=1","warnings":[]}}')


async def nothing(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=ANSWER, status=201, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_post("/api/invoice", nothing)
    app.router.add_get("/", lambda request: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
