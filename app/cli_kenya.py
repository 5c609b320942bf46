"""`rims-utility setup --upstream kra-agent|protax`: a Kenya eTIMS POS from the command line, the
same steps as the setup wizard (app/service/kenya_setup.py). The secret (the KRA Agent account's
password, or the ProTax API key) is read from standard input or asked for, never an argument."""

import argparse
import asyncio
import sys
from collections.abc import Callable

from app import keystore, settings
from app.service import kenya_setup
from app.service.upstreams import upstream_ssl


class _DatabasePos:
    """What kenya_setup needs of the store, on the database file directly (the service may not
    be running; if it is, it picks the POS up from the database)."""

    def __init__(self, db_path):
        self._db_path = db_path
        self._database = None  # opened (and checked) by the first write, then kept

    def _write(self, fn, *args):
        if self._database is None:
            from app.store.database import open_database
            self._database = open_database(self._db_path)
        database = self._database
        with database.connection_context(), database.atomic():
            return fn(database, *args)

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None

    async def upsert_pos(self, ntn: str, pos_id: str, upstream: str = "kpra") -> None:
        from app.store import repository
        await asyncio.to_thread(self._write, repository.upsert_pos, ntn, pos_id, upstream)

    async def release_pos(self, pos_id: str) -> int:
        from app.store import repository
        return await asyncio.to_thread(self._write, repository.release_pos, pos_id)


def setup_kenya(args: argparse.Namespace, config: settings.Settings, pin: str, pos_id: str,
                secret_input: Callable[[str], str]) -> int:
    store = _DatabasePos(config.db_path)
    try:
        return _setup_kenya(args, config, pin, pos_id, secret_input, store)
    finally:
        store.close()


def _setup_kenya(args: argparse.Namespace, config: settings.Settings, pin: str, pos_id: str,
                 secret_input: Callable[[str], str], store: _DatabasePos) -> int:
    ssl = upstream_ssl(config.upstream_ca)
    try:
        if args.upstream == "protax":
            base_url = args.url or settings.PROTAX_LIVE_URL
            api_key = secret_input("ProTax API key (ptx_test_… or ptx_live_…; not shown): ")
            result = asyncio.run(kenya_setup.setup_protax(
                store, config, base_url=base_url, api_key=api_key, kra_pin=pin, pos_id=pos_id,
                ssl=ssl))
        else:
            missing = [flag for flag, value in (
                ("--url", args.url), ("--email", args.email),
                ("--company-name", args.company_name), ("--device-serial", args.device_serial),
                ("--integration-token", args.integration_token)) if not value]
            if missing:
                print(f"rims-utility setup: the KRA Agent needs {', '.join(missing)}",
                      file=sys.stderr)
                return 2
            password = secret_input(f"Password of the KRA Agent account {args.email} "
                                    "(not shown): ")
            result = asyncio.run(kenya_setup.setup_kra_agent(
                store, config, base_url=args.url, email=args.email, password=password,
                kra_pin=pin, pos_id=pos_id, company_name=args.company_name,
                integration_token=args.integration_token, branch_id=args.branch_id,
                dvc_srl_no=args.device_serial, ssl=ssl))
    except kenya_setup.KenyaSetupError as why:
        print(f"rims-utility setup: {why} Nothing was changed.", file=sys.stderr)
        return 1
    print(f"POS {pos_id} (KRA PIN {pin}) is set up with "
          f"{settings.UPSTREAM_NAMES[result.upstream]} at {result.base_url}; its secrets are in "
          f"the OS keyring ({keystore.backend_name()}).")
    if result.device:
        print("Device: " + ", ".join(f"{k} {v}" for k, v in result.device.items()))
    if result.key_kind:
        print("API key: " + ("TEST key (ptx_test_…): invoices are not filed with KRA"
                             if result.key_kind == "test" else "LIVE key (ptx_live_…)"))
    if result.released:
        print(f"{result.released} held invoice(s) of this POS will be sent again.")
    if result.warning:
        print(f"WARNING: {result.warning}", file=sys.stderr)
    return 0
