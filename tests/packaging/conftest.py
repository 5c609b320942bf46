"""The frozen program, built once per test run: PyInstaller over build_scripts/rims-utility.spec
into a temporary folder (the checkout's dist/ and build/ are never touched), exactly as
`bash build_scripts/build.sh` builds it for shopkeepers.

RIMS_FROZEN_BUNDLE=/path/to/dist/rims-utility reuses a bundle you built yourself (faster when
working on these tests; CI always builds)."""

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "build_scripts"))

import build  # noqa: E402  (build_scripts/build.py)

from tests.conftest import add_figures  # noqa: E402


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Path]:
    """dist/rims-utility of a fresh build (the one-folder bundle)."""
    reuse = os.environ.get("RIMS_FROZEN_BUNDLE")
    if reuse:
        yield Path(reuse).resolve()
        return
    base = tmp_path_factory.mktemp("frozen")
    started = time.monotonic()
    folder = build.build_bundle(base / "dist", base / "work")
    seconds = time.monotonic() - started
    add_figures(pytestconfig, f"frozen bundle: built in {seconds:.0f} s, "
                              f"{build.folder_size(folder) / 1e6:.0f} MB ({folder})")
    yield folder


@pytest.fixture(scope="session")
def frozen_program(bundle: Path) -> Path:
    """The frozen `rims-utility` (on Windows its console twin, rims-utility-cli.exe)."""
    return bundle / build.program_name(cli=True)


@pytest.fixture(scope="session")
def version() -> str:
    return build.version()
