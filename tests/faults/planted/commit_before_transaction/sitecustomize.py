"""Planted bug: a consumer that commits before its transaction. The first batch funding fetches
with a TeamAccepted is acknowledged (FastStream commits its offsets when the handler returns)
before anything is applied, and the process dies a moment later, before its transaction: the
batch is never seen again. `PLANTED_BUG_STATE` names a file that says it happened (once)."""

import asyncio
import os
import signal
from pathlib import Path

from shared.runtime.service import ServiceRuntime

_handle_records = ServiceRuntime.handle_records
_STATE = Path(os.environ["PLANTED_BUG_STATE"])


def _first_time(records):
    if _STATE.exists():
        return False
    _STATE.write_text(f"acknowledged {len(records)} records unapplied, then died\n")
    return True


async def _commit_first(self, records):
    accepted = any(b'"TeamAccepted"' in (record.value or b"") for record in records)
    if self.definition.name == "funding" and accepted and _first_time(records):
        # returning acknowledges the batch: the transaction would come after the commit, the process dies first
        asyncio.get_running_loop().call_later(1.0, os.kill, os.getpid(), signal.SIGKILL)
        return None
    return await _handle_records(self, records)


ServiceRuntime.handle_records = _commit_first
