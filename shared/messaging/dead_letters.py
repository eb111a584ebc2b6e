"""Emptying the dead-letter queues when the portal's data is destroyed.

A parked message is kept for an operator to look at, and it may carry personal data (an
OrderPlaced holds a delivery address). When the portal closes and its data is destroyed,
nobody will replay them: every dead-letter queue of the topology is purged.
"""

from __future__ import annotations

from aio_pika.abc import AbstractConnection

from shared.messaging.topology import subscriptions


async def purge_dead_letters(connection: AbstractConnection) -> int:
    """Purge every dead-letter queue of the topology; returns how many messages went."""
    channel = await connection.channel()
    purged = 0
    try:
        for sub in subscriptions():
            queue = await channel.declare_queue(sub.dead_letter_queue_name, passive=True)
            result = await queue.purge()
            purged += int(result.message_count or 0)
    finally:
        await channel.close()
    return purged
