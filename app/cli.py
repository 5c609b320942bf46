"""`rims-utility` command line. Names and flags are a contract other tools depend on (issue 2)."""

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
import time
from pathlib import Path

from app import __version__, cli_backups, cli_doctor, keystore, logs, settings
from app.domain.invoice import wire_time
from app.store.integrity import DamagedDatabase

log = logging.getLogger("rims")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rims-utility",
        description="Receives invoices from the POS on localhost and forwards them to KPRA RIMS.")
    parser.add_argument("--version", action="version", version=f"rims-utility {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def upstream_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--upstream", choices=settings.UPSTREAMS, default=None,
                       help="the tax authority: kpra (Pakistan, the default), kra-agent or "
                            "protax (Kenya eTIMS); kept in the settings by the setup wizard")

    def data_dir_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, default=None,
                       help="where the database, settings and logs live "
                            "(default: $RIMS_DATA_DIR or the user data folder)")

    tray = commands.add_parser("tray", help="the tray app with its windows (the default: "
                               "`rims-utility` alone starts it)")
    data_dir_flag(tray)
    tray.add_argument("--port", type=int, default=None, help="port to listen on (default 3000)")
    tray.add_argument("--practice", action="store_true", default=None,
                      help="send to a built-in sandbox of the authority instead of the real one "
                           "(nothing is filed)")
    upstream_flag(tray)

    serve = commands.add_parser("serve", help="run the service without a window (headless)")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 3000)")
    serve.add_argument("--allow-client", action="append", default=None, metavar="ADDRESS",
                       help="with a --host other than 127.0.0.1 (LAN mode, where it is required): "
                            "an IP address or network (192.168.1.0/24) allowed to send "
                            "invoices; repeat it for more")
    serve.add_argument("--allow-host", action="append", default=None, metavar="NAME",
                       help="LAN mode: another name the tills use for this computer (its IP "
                            "addresses and host name are always accepted); repeatable")
    data_dir_flag(serve)
    upstream_flag(serve)
    serve.add_argument("--upstream-url", default=None,
                       help=f"KPRA endpoint (default {settings.KPRA_LIVE_URL}), or the Kenya "
                            f"API base (ProTax: {settings.PROTAX_LIVE_URL}; KRA Agent: the "
                            "address its provider gave, ending /kra-agent/api/v1)")
    serve.add_argument("--upstream-ca", type=Path, default=None,
                       help="extra CA certificate (PEM) to trust for the upstream, e.g. a sandbox's")
    serve.add_argument("--practice", action="store_true", default=None,
                       help="send to a built-in sandbox of the authority instead of the real "
                            "one (nothing is filed)")

    setup = commands.add_parser(
        "setup", help="configure a POS: NTN, POS ID and key (keyring); with --upstream "
        "kra-agent or protax, a Kenya eTIMS POS (the secret is read from standard input or "
        "asked for: the KRA Agent account's password, or the ProTax API key)")
    setup.add_argument("--ntn", "--pin", dest="ntn", required=True,
                       help="the restaurant's NTN as issued by KPRA, or in Kenya the KRA PIN")
    setup.add_argument("--pos-id", required=True, help="the POS ID (KPRA's; in Kenya, the one "
                       "the till will send)")
    upstream_flag(setup)
    setup.add_argument("--url", default=None, help="Kenya: the API base (ProTax default "
                       f"{settings.PROTAX_LIVE_URL}; the KRA Agent's from its provider)")
    setup.add_argument("--email", default=None, help="KRA Agent: the account's email")
    setup.add_argument("--company-name", default=None, help="KRA Agent: the shop's name")
    setup.add_argument("--branch-id", default="00", help="KRA Agent: branch id (default 00)")
    setup.add_argument("--device-serial", default=None, help="KRA Agent: the device serial no.")
    setup.add_argument("--integration-token", default=None,
                       help="KRA Agent: the POS's integration token (the till sends it as its key)")
    data_dir_flag(setup)

    status = commands.add_parser("status", help="show how many invoices are in each state")
    data_dir_flag(status)

    forget = commands.add_parser("forget-keys", help="remove this data folder's POS keys from "
                                 "the OS keyring (before deleting the data; the uninstaller "
                                 "runs it when asked to delete everything)")
    data_dir_flag(forget)

    sandbox = commands.add_parser("sandbox", help="run a local stand-in for an upstream API")
    sandbox.add_argument("upstream", choices=settings.UPSTREAMS, help="which API to imitate")
    sandbox.add_argument("--port", type=int, required=True, help="HTTPS port")
    sandbox.add_argument("--http-port", type=int, default=None,
                         help="plain-HTTP port (answers 403; carries the /_sandbox controls)")
    data_dir_flag(sandbox)
    cli_backups.add_commands(commands, data_dir_flag)  # backups, restore
    cli_doctor.add_command(commands, data_dir_flag)
    return parser


def main(argv: list[str] | None = None) -> int:
    if sys.platform == "win32":  # the frozen app's writer process (multiprocessing) may start
        import multiprocessing  # through here; elsewhere it is app/relaunch.py's hidden command

        multiprocessing.freeze_support()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # double-clicked, or started at login: the tray app
        args = parser.parse_args(["tray", *(argv or [])])
    try:
        return {"tray": _tray, "serve": _serve, "setup": _setup, "status": _status, "sandbox": _sandbox,
                "forget-keys": _forget_keys,
                "backups": cli_backups.list_backups, "restore": cli_backups.restore,
                "doctor": cli_doctor.doctor}[
            args.command](args)
    except settings.SettingsError as why:
        print(f"rims-utility: configuration problem: {why}", file=sys.stderr)
        return 2
    except DamagedDatabase as why:  # setup/status on a damaged file: what to do, not a trace
        print(f"rims-utility: {why}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _no_screen() -> bool:
    """Linux with no display to draw on (a server, an SSH session) and no Qt platform chosen."""
    return (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
            and not os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"))


def _tray(args: argparse.Namespace) -> int:
    if _no_screen():  # the same service, without windows, rather than a Qt abort
        print("rims-utility: no screen here (DISPLAY is not set): running headless, as "
              "`rims-utility serve`. The dashboard is at /login.html.", file=sys.stderr)
        serve = ["serve"] + (["--data-dir", str(args.data_dir)] if args.data_dir else []) \
            + (["--port", str(args.port)] if args.port is not None else []) \
            + (["--practice"] if args.practice else []) \
            + (["--upstream", args.upstream] if args.upstream else [])
        return _serve(build_parser().parse_args(serve))
    config = settings.load(args.data_dir, port=args.port, practice=args.practice,
                           upstream=args.upstream)
    try:
        from app.gui.app import run
    except ImportError as why:  # PySide6 missing (a headless install)
        print(f"rims-utility: the tray app needs PySide6 ({why}). Install it with "
              "`pip install 'rims-utility[gui]'`, or run the service without a window: "
              "`rims-utility serve`.", file=sys.stderr)
        return 2
    return run(config)


def _serve(args: argparse.Namespace) -> int:
    from app.service import instance
    from app.service.core import Core, StartupError, run_until_stopped

    config = settings.load(args.data_dir, host=args.host, port=args.port,
                           upstream=args.upstream, upstream_url=args.upstream_url,
                           upstream_ca=args.upstream_ca, practice=args.practice,
                           allowed_clients=args.allow_client, allowed_hosts=args.allow_host)
    # The port, then the data folder: if either is taken, say so and touch nothing (not even
    # the running instance's log file).
    try:
        listener = instance.listen(config.host, config.port)
    except instance.PortInUse as why:
        print(f"rims-utility: {why}", file=sys.stderr)
        return 1
    try:
        lock = instance.InstanceLock(config.data_dir).acquire()
    except instance.AlreadyRunning as why:
        listener.close()
        print(f"rims-utility: {why}", file=sys.stderr)
        return 1
    logs.setup(config.log_dir)
    core = Core(config, listener=listener)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C raises instead
                loop.add_signal_handler(signum, stop.set)
        await run_until_stopped(core, stop, started=lambda: lock.update(url=core.base_url))

    try:
        asyncio.run(serve())
    except StartupError as why:
        log.error("%s", why)
        return 1
    finally:
        lock.release()
    log.info("stopped; queued invoices are kept and will be sent on the next start")
    return 0


def _setup(args: argparse.Namespace) -> int:
    from app.store import repository
    from app.store.database import open_database

    config = settings.load(args.data_dir)
    logs.setup(config.log_dir, console=False)
    ntn, pos_id = args.ntn.strip(), args.pos_id.strip()
    if not ntn or not pos_id:
        print("rims-utility setup: --ntn and --pos-id must not be blank", file=sys.stderr)
        return 2
    if args.upstream in settings.KENYA_UPSTREAMS:
        from app.cli_kenya import setup_kenya
        return setup_kenya(args, config, ntn, pos_id, _secret_input)
    key = _secret_input(f"Key for POS {pos_id} (not shown): ")
    if not key.strip():
        print("rims-utility setup: the key is empty; nothing was changed", file=sys.stderr)
        return 2
    try:
        keystore.save_key("kpra", ntn, pos_id, key)
    except keystore.KeystoreError as why:
        print(f"rims-utility setup: {why}. Nothing was changed. Unlock or install the "
              "desktop's keyring; on a Linux machine without a desktop session, run it as "
              "`bash build_scripts/run.sh setup ...`, which starts a private keyring.",
              file=sys.stderr)
        return 1
    database = open_database(config.db_path)
    with database.connection_context(), database.atomic():
        repository.upsert_pos(database, ntn, pos_id)
        released = repository.release_pos(database, pos_id)
    print(f"POS {pos_id} (NTN {ntn}) is configured; its key is in the OS keyring "
          f"({keystore.backend_name()}).")
    if released:
        print(f"{released} held invoice(s) of this POS will be sent again.")
    warning = keystore.backend_warning()
    if warning:
        print(f"WARNING: {warning}", file=sys.stderr)
    return 0


def _secret_input(prompt: str) -> str:
    """A secret from standard input when it is not a terminal (scripts), else asked for."""
    if sys.stdin is not None and not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass(prompt)


def _status(args: argparse.Namespace) -> int:
    from app.store import repository
    from app.store.database import open_database

    config = settings.load(args.data_dir)
    if not config.db_path.exists():
        print(f"No invoices yet (no database in {config.data_dir}).")
        return 0
    database = open_database(config.db_path)
    with database.connection_context():
        summary = repository.summary(database)
        pos = repository.list_pos(database)
    counts = ", ".join(f"{state} {count}" for state, count in summary.counts.items())
    print(f"Invoices: {counts}")
    if summary.oldest_pending_at is None:
        print("Nothing is waiting to be sent.")
    else:
        age = time.time() - summary.oldest_pending_at
        print(f"Oldest pending: received {wire_time(summary.oldest_pending_at)} "
              f"({_duration(age)} ago)")
    if summary.last_synced_at is not None:
        print(f"Last successful sync: {wire_time(summary.last_synced_at)}")
    print("POS: " + (", ".join(p.pos_id for p in pos) if pos else
                     "none configured (run rims-utility setup)"))
    for held in summary.held:
        print(f"HELD {held.pos_id}: {held.held_reason}")
    return 0


def _forget_keys(args: argparse.Namespace) -> int:
    from app.service import instance
    from app.store import repository
    from app.store.database import open_database

    config = settings.load(args.data_dir)
    if not config.db_path.exists():
        print(f"No POS is configured in {config.data_dir}: there is no key to remove.")
        return 0
    try:  # the service keeps the keys it read; it must not run on without them unnoticed
        lock = instance.InstanceLock(config.data_dir).acquire()
    except instance.AlreadyRunning as why:
        print(f"rims-utility forget-keys: {why}", file=sys.stderr)
        return 1
    try:
        database = open_database(config.db_path)
        with database.connection_context():
            pos_list = repository.list_pos(database)
        removed = [pos.pos_id for pos in pos_list
                   if keystore.delete_key(pos.upstream, pos.ntn, pos.pos_id)]
        if config.kra_agent_email and keystore.delete_key("kra-agent", "account",
                                                          config.kra_agent_email):
            removed.append(f"the KRA Agent account {config.kra_agent_email}")
    except keystore.KeystoreError as why:
        print(f"rims-utility forget-keys: {why}. Nothing more was removed.", file=sys.stderr)
        return 1
    finally:
        lock.release()
    if removed:
        print(f"Removed the key(s) of POS {', '.join(removed)} from the OS keyring "
              f"({keystore.backend_name()}).")
    else:
        print("There was no key of this data folder's POS in the OS keyring.")
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    if args.upstream == "kra-agent":
        from app.sandbox.cli import run_kra_agent_sandbox as run
    elif args.upstream == "protax":
        from app.sandbox.cli import run_protax_sandbox as run
    else:
        from app.sandbox.cli import run_kpra_sandbox as run

    data_dir = args.data_dir or settings.default_data_dir() / f"sandbox-{args.upstream}"
    logs.setup(None)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.port, args.http_port, data_dir))
    return 0


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
