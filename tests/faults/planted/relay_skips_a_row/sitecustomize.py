"""Planted bug: the outbox relay skips a row. The first FundingReleased it finds unpublished is
marked published without being sent: the state says the tranche was released, nobody hears it."""

from shared.messaging.relay import OutboxRelay

_publish_pending = OutboxRelay.publish_pending


async def _skipping(self):
    if not getattr(self, "_planted_skipped", False):
        async with self._pool.acquire() as conn:
            seq = await conn.fetchval(
                "SELECT seq FROM outbox WHERE published_at IS NULL AND event_type = 'FundingReleased' "
                "ORDER BY seq LIMIT 1"
            )
            if seq is not None:
                await conn.execute("UPDATE outbox SET published_at = clock_timestamp() WHERE seq = $1", seq)
                self._planted_skipped = True
    return await _publish_pending(self)


OutboxRelay.publish_pending = _skipping
