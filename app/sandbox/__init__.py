"""Practice sandboxes: local, faithful stand-ins for upstream tax authorities.

KPRA has no sandbox of its own, so `KpraSandbox` plays the live RIMS endpoint over real
HTTPS for "practice mode" and for our integration tests, with faults on demand.

`KpraSandbox` and `Record` are imported on first use (the certificate maker, tls.py, runs in a
process of its own without aiohttp).
"""

__all__ = ["KpraSandbox", "Record"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from app.sandbox import kpra

        return getattr(kpra, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
