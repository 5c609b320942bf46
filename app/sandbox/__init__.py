"""Practice sandboxes: local, faithful stand-ins for the upstream tax authorities.

KPRA has no sandbox of its own, so `KpraSandbox` plays the live RIMS endpoint over real
HTTPS for "practice mode" and for our integration tests, with faults on demand;
`KraAgentSandbox` (kra_agent.py) and `ProTaxSandbox` (protax.py) do the same for the two
Kenya eTIMS APIs (docs/KENYA.md), with the same fault plan (faults.py).

They are imported on first use (the certificate maker, tls.py, runs in a process of its own
without aiohttp).
"""

__all__ = ["KpraSandbox", "KraAgentSandbox", "ProTaxSandbox", "Record"]

_HOMES = {"KpraSandbox": "kpra", "Record": "kpra", "KraAgentSandbox": "kra_agent",
          "ProTaxSandbox": "protax"}


def __getattr__(name: str) -> object:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"app.sandbox.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
