"""Acknowledgements combined per channel: one frame for a run of committed deliveries, and
never a ``multiple`` frame over a delivery that has not committed (shared.messaging.acks)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.messaging import acks as acks_module
from shared.messaging.acks import Acknowledgements


class Channel:
    """The frames a channel was sent, as (tag, multiple, kind)."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bool, str]] = []
        self.fail = False


class Raw:
    def __init__(self, channel: Channel, tag: int) -> None:
        self.channel, self.delivery_tag = channel, tag


class Message:
    """What the consumer holds: ``raw_message`` with tag and channel, ``ack`` and ``nack``."""

    def __init__(self, channel: Channel, tag: int) -> None:
        self.raw_message = Raw(channel, tag)

    async def ack(self, multiple: bool = False) -> None:
        channel = self.raw_message.channel
        if channel.fail:
            raise ConnectionError("channel closed")
        channel.frames.append((self.raw_message.delivery_tag, multiple, "ack"))

    async def nack(self, requeue: bool = True) -> None:
        self.raw_message.channel.frames.append((self.raw_message.delivery_tag, False, "nack"))


async def ack_all(acks: Acknowledgements, messages: list[Message]) -> None:
    """Acknowledge ``messages`` as deliveries that committed together do: all at once."""

    async def one(message: Message) -> None:
        found = acks.of(message)  # type: ignore[arg-type]
        assert found is not None
        await found[0].ack(message, found[1])  # type: ignore[arg-type]

    await asyncio.gather(*(one(m) for m in messages))


def acked(channel: Channel) -> set[int]:
    """Every tag the frames sent so far acknowledge (``multiple`` covers the tags below)."""
    done: set[int] = set()
    for tag, multiple, kind in channel.frames:
        if kind == "ack":
            done |= set(range(1, tag + 1)) if multiple else {tag}
    return done


async def test_deliveries_that_commit_together_are_acknowledged_in_one_frame() -> None:
    channel, acks = Channel(), Acknowledgements()
    await ack_all(acks, [Message(channel, tag) for tag in (1, 2, 3, 4, 5)])
    assert channel.frames == [(5, True, "ack")]
    await ack_all(acks, [Message(channel, 6)])
    assert channel.frames[-1] == (6, False, "ack")  # one alone is no multiple


async def test_a_delivery_not_yet_committed_is_never_covered() -> None:
    channel, acks = Channel(), Acknowledgements()
    held = Message(channel, 3)  # still in its transaction
    await ack_all(acks, [Message(channel, tag) for tag in (1, 2, 4, 5)])
    assert 3 not in acked(channel)
    assert channel.frames == [(2, True, "ack"), (4, False, "ack"), (5, False, "ack")]
    await ack_all(acks, [held])  # it commits: the floor moves past 4 and 5 as well
    await ack_all(acks, [Message(channel, 6), Message(channel, 7)])
    assert channel.frames[3:] == [(3, False, "ack"), (7, True, "ack")]
    assert acked(channel) == set(range(1, 8))


async def test_a_rejected_delivery_is_crossed_only_after_its_own_frame() -> None:
    channel, acks = Channel(), Acknowledgements()
    retried = Message(channel, 2)
    await ack_all(acks, [Message(channel, 1), Message(channel, 3)])
    assert channel.frames == [(1, False, "ack"), (3, False, "ack")]
    await retried.nack()
    acks.settled(retried)  # type: ignore[arg-type]
    await ack_all(acks, [Message(channel, 4), Message(channel, 5)])
    assert channel.frames[-1] == (5, True, "ack")
    assert [f for f in channel.frames if f[0] == 2] == [(2, False, "nack")]


async def test_an_abandoned_delivery_keeps_later_ones_alone_and_memory_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(acks_module, "MAX_SETTLED_ABOVE_GAP", 5)
    channel, acks = Channel(), Acknowledgements()
    # Tag 1 never commits (its consumer was cancelled): it must stay unacknowledged.
    for start in range(2, 20, 3):
        await ack_all(acks, [Message(channel, tag) for tag in range(start, start + 3)])
    assert 1 not in acked(channel)
    assert all(not multiple for _, multiple, _ in channel.frames)
    state = acks.of(Message(channel, 1))  # type: ignore[arg-type]
    assert state is not None and state[0].alone and not state[0].settled


async def test_each_channel_counts_its_own_tags() -> None:
    first, second, acks = Channel(), Channel(), Acknowledgements()
    await ack_all(acks, [Message(first, 1), Message(first, 2), Message(second, 2)])
    assert first.frames == [(2, True, "ack")]
    assert second.frames == [(2, False, "ack")]  # tag 1 of this channel is not known done


async def test_a_failed_frame_fails_every_delivery_it_carried() -> None:
    channel, acks = Channel(), Acknowledgements()
    channel.fail = True
    results: list[Any] = await asyncio.gather(
        ack_all(acks, [Message(channel, 1)]),
        ack_all(acks, [Message(channel, 2)]),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
