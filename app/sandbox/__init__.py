"""Practice sandboxes: local, faithful stand-ins for upstream tax authorities.

KPRA has no sandbox of its own, so `KpraSandbox` plays the live RIMS endpoint over real
HTTPS for "practice mode" and for our integration tests, with faults on demand.
"""

from app.sandbox.kpra import KpraSandbox, Record

__all__ = ["KpraSandbox", "Record"]
