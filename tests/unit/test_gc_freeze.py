"""freeze_startup_objects: once per process, start-up's objects leave the collector's view."""

import subprocess
import sys

SCRIPT = """
import gc
from app.service.core import freeze_startup_objects
assert gc.get_freeze_count() == 0
freeze_startup_objects()
frozen = gc.get_freeze_count()
assert frozen > 10_000, frozen  # the app's modules, classes and functions
junk = [[i] for i in range(50_000)]
freeze_startup_objects()  # a second start of the core in the same process: no change
assert gc.get_freeze_count() == frozen, (gc.get_freeze_count(), frozen)
print("ok", frozen)
"""


def test_start_up_objects_are_frozen_once_per_process():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stdout + done.stderr
