"""The writer process dies while the forwarder's start-up recovery (rows left `sending` by a crash
go back to the queue) is in its hands. README: "If the writer process dies, the writes it had
not answered get 503 ..., a new one is started" — the forwarder must carry on too, or nothing is
ever sent again while the service looks healthy."""

import asyncio
import os
import signal

from app.store.gateway import Store
from tests.conftest import wait_for
from tests.integration.conftest import Utility, configure_pos, invoice


async def test_forwarder_survives_the_writer_dying_during_startup_recovery(
        tmp_path, sandbox, monkeypatch):
    original = Store.recover_interrupted
    killed: list[int] = []
    calls: list[int] = []

    async def recovery_whose_answer_is_lost(self: Store, keep: list[int] | None = None) -> int:
        calls.append(1)
        if len(calls) > 1:  # only the first, start-up call
            return await original(self, keep)
        writer = self.writer
        assert writer.pid is not None
        killed.append(writer.pid)
        os.kill(writer.pid, signal.SIGSTOP)  # frozen: it cannot answer before the kill
        pending = asyncio.ensure_future(original(self, keep))
        await wait_for(lambda: writer.in_flight >= 1, what="the recovery in the writer's hands")
        os.kill(writer.pid, signal.SIGKILL)
        return await pending

    monkeypatch.setattr(Store, "recover_interrupted", recovery_whose_answer_is_lost)
    data_dir = tmp_path / "data"
    configure_pos(data_dir)
    utility = await Utility(data_dir, sandbox).start()
    try:
        assert utility.core is not None and utility.core.store is not None
        writer = utility.core.store.writer
        await wait_for(lambda: killed and writer.restarts == 1 and writer.pid != killed[0],
                       what="the writer killed during recovery, and started again")
        status, _, _ = await _post_until_201(utility, invoice("AFTER-RECOVERY-1"))
        assert status == 201
        await wait_for(lambda: _synced(utility, "AFTER-RECOVERY-1"), timeout=15,
                       what="an invoice posted after the writer's restart to be synced (the "
                            "forwarder must not have died with the start-up recovery)")
    finally:
        await utility.stop()


async def _post_until_201(utility: Utility, body: dict) -> tuple[int, dict, dict]:
    async def posted() -> tuple[int, dict, dict] | None:
        answer = await utility.post(body)
        return answer if answer[0] == 201 else None

    return await wait_for(posted, what="the invoice to be taken after the writer restart")


async def _synced(utility: Utility, number: str) -> bool:
    return await utility.state_of(number) == "synced"
