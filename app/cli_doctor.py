"""`rims-utility doctor`: checks that this installation has everything it needs, one line per
check, and exits 1 if any failed. Support asks a shopkeeper to run it; the frozen app's smoke
tests run it on every build (tests/packaging), since a frozen program is where resources, Qt
plugins, keyring backends and CA certificates go missing.

Nothing is changed except a throw-away secret saved to the keyring and deleted again, and a
temporary file in the data folder. No secret is ever printed."""

import argparse
import shutil
import ssl
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from app import __version__, keystore, settings
from app.resources import resources_dir

ICONS = ["app.ico", "app-256.png", *(f"tray-{light}-{size}.png" for light in
                                     ("green", "amber", "red", "grey") for size in (16, 32))]
PAGES = ["login.html", "dashboard.html", "dashboard.js", "session.js", "style.css"]


def add_command(commands: argparse._SubParsersAction,
                data_dir_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    doctor = commands.add_parser("doctor", help="check this installation: files, keyring, Qt, "
                                                "certificates, data folder, port")
    data_dir_flag(doctor)
    doctor.add_argument("--port", type=int, default=None, help="the port to check (default 3000)")


def doctor(args: argparse.Namespace) -> int:
    config = settings.load(args.data_dir, port=args.port)
    frozen = getattr(sys, "frozen", False)
    print(f"RIMS Utility {__version__} ({'installed program' if frozen else 'Python'} "
          f"{sys.executable})")
    checks: list[tuple[str, Callable[[], str]]] = [
        ("files", _files),
        ("keyring", _keyring),
        ("certificates", _certificates),
        ("data folder", lambda: _data_folder(config.data_dir)),
        ("port", lambda: _port(config)),
        ("tray app", _qt),
    ]
    failed = 0
    for name, check in checks:
        try:
            detail = check()
        except Exception as why:  # every check's failure is a line, not a traceback
            failed += 1
            print(f"  FAIL  {name}: {why}")
        else:
            print(f"  ok    {name}: {detail}")
    print("Everything needed is here." if not failed else
          f"{failed} check(s) failed: see above.")
    return 1 if failed else 0


def _files() -> str:
    base = resources_dir()
    wanted = [base / "icons" / name for name in ICONS] + [base / "web" / name for name in PAGES]
    missing = [str(path.relative_to(base)) for path in wanted if not path.is_file()]
    if missing:
        raise RuntimeError(f"missing from {base}: {', '.join(missing)}")
    return f"icons and dashboard pages in {base}"


def _keyring() -> str:
    keystore.round_trip()
    warning = keystore.backend_warning()
    if warning:
        raise RuntimeError(warning)
    return f"a test secret was saved, read back and deleted ({keystore.backend_name()})"


def _certificates() -> str:
    """The authority is reached over HTTPS, checked against this computer's CA certificates."""
    context = ssl.create_default_context()
    count = context.cert_store_stats()["x509_ca"]
    if count == 0:
        paths = ssl.get_default_verify_paths()
        raise RuntimeError(f"no CA certificates found (looked in {paths.cafile} and "
                           f"{paths.capath}); HTTPS to the authority would fail")
    return f"{count} CA certificates ({ssl.OPENSSL_VERSION})"


def _data_folder(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".doctor-"):
        pass
    free = shutil.disk_usage(data_dir).free
    if free < 100 * 2**20:
        raise RuntimeError(f"{data_dir} has only {free / 2**20:.0f} MB free")
    return f"{data_dir} is writable, {free / 2**30:.1f} GB free"


def _port(config: settings.Settings) -> str:
    from app.service import instance

    try:
        instance.listen(config.host, config.port).close()  # exactly as the service binds it
    except instance.PortInUse:
        try:  # in use: by RIMS Utility for this data folder, or by someone else?
            instance.InstanceLock(config.data_dir).acquire().release()
        except instance.AlreadyRunning:
            return f"{config.host}:{config.port} is in use by RIMS Utility, which is running"
        raise RuntimeError(f"{config.host}:{config.port} is used by another program, not RIMS "
                           "Utility: close that program, or give RIMS Utility another port "
                           "(Settings, or --port)") from None
    return f"{config.host}:{config.port} is free for the till"


def _qt() -> str:
    try:
        from app.gui.selfcheck import qt_check
    except ImportError as why:
        raise RuntimeError(f"Qt is not installed ({why}); only `rims-utility serve` can run") \
            from None
    return qt_check()
