"""Acknowledgements of committed deliveries, several in one ``basic.ack`` where that is safe.

Each delivery used to be acknowledged with a frame of its own. Deliveries that commit together
(:mod:`shared.messaging.group_commit`) become ready to acknowledge in the same moment, and
AMQP can acknowledge a run of them at once: ``basic.ack`` with ``multiple=True`` acknowledges
the delivery tag given *and every unacknowledged tag below it on the channel*. That is only
safe if every one of those has committed: a delivery still in its transaction, waiting to be
retried, being parked or abandoned must never be covered.

So each channel keeps a floor: every delivery tag up to it has been settled here (acknowledged
after its commit, or rejected or parked, its own frame already queued). RabbitMQ numbers a
channel's deliveries 1, 2, 3, ... (channel-scoped, consecutive, ``x-delivery-tag``), so a run of
tags just above the floor that have all committed, or were settled on their own, can be
acknowledged with one ``multiple=True`` frame at the highest of them. A tag above a gap (a
delivery still in progress, or one this code never saw) is acknowledged on its own, as
before: never waited for, never covered by a later frame until the gap has been settled.
Nothing relies on the numbering for safety: a tag that is missing only keeps the run from
growing.

A frame is queued only by the channel's one sender task, in the order planned, so a later
``multiple`` frame cannot overtake an earlier one; rejections and parking queue their own
frame first and count as settled only after it (``settled``). A channel that reconnects is a
new channel object with its own numbering and its own floor. Still acknowledged only after the
commit: a delivery is ready only once :meth:`ChannelAcks.ack` is called for it, which the
consumer does after the group commit returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import Any
from weakref import WeakKeyDictionary

from faststream.rabbit.annotations import RabbitMessage

#: One frame to send: the message whose tag it carries, ``multiple``, and who waits for it.
Frame = tuple[RabbitMessage, bool, list["asyncio.Future[None]"]]

#: Tags settled above a gap that never closes (a delivery abandoned mid-way stays unacked
#: until its channel closes) are remembered; past this many the channel stops combining
#: acknowledgements, so the memory stays bounded.
MAX_SETTLED_ABOVE_GAP = 10_000


class ChannelAcks:
    """The acknowledgement state of one AMQP channel (see the module's docstring)."""

    __slots__ = ("alone", "floor", "ready", "sender", "settled")

    def __init__(self) -> None:
        #: Every delivery tag up to this one is settled.
        self.floor = 0
        #: Tags above the floor settled on their own (acked alone, rejected, parked).
        self.settled: set[int] = set()
        #: Committed deliveries waiting for their acknowledgement, by tag.
        self.ready: dict[int, tuple[RabbitMessage, asyncio.Future[None]]] = {}
        self.sender: asyncio.Task[None] | None = None
        #: Every acknowledgement on its own from now on (a gap stayed open too long).
        self.alone = False

    async def ack(self, message: RabbitMessage, tag: int) -> None:
        """Acknowledge a committed delivery, with others ready at the same moment if safe."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready[tag] = (message, future)
        if self.sender is None:
            # Started after the deliveries committed with this one have marked themselves
            # ready (they were woken together and run before the new task's first step).
            # A clean context: a copy of this delivery's would carry its log fields.
            self.sender = asyncio.create_task(self._send(), context=contextvars.Context())
        await future

    def settle(self, tag: int) -> None:
        """``tag`` has been settled by a frame of its own, already queued (nack, park)."""
        if tag > self.floor and not self.alone:
            self.settled.add(tag)
            if len(self.settled) > MAX_SETTLED_ABOVE_GAP:
                self.alone = True
                self.settled.clear()

    def plan(self) -> list[Frame]:
        """The frames that acknowledge what is ready now: the run above the floor in one."""
        ready, self.ready = self.ready, {}
        run: list[tuple[RabbitMessage, asyncio.Future[None]]] = []
        tag = self.floor + 1
        while not self.alone:
            if tag in ready:
                run.append(ready.pop(tag))
            elif tag in self.settled:
                self.settled.discard(tag)
            else:
                break
            tag += 1
        self.floor = max(self.floor, tag - 1)
        frames: list[Frame] = []
        if run:
            frames.append((run[-1][0], len(run) > 1, [future for _, future in run]))
        for lone, (message, future) in sorted(ready.items()):
            frames.append((message, False, [future]))  # above a gap: on its own
            self.settle(lone)
        return frames

    async def _send(self) -> None:
        frames: list[Frame] = []
        try:
            while self.ready:
                frames = self.plan()
                while frames:
                    message, multiple, waiting = frames[0]
                    try:
                        await message.ack(multiple=multiple)
                    except Exception as exc:
                        _fail(waiting, exc)
                    else:
                        for future in waiting:
                            if not future.done():
                                future.set_result(None)
                    frames.pop(0)
        finally:
            self.sender = None
            for _, _, waiting in frames:  # cancelled mid-way: nobody is left waiting
                for future in waiting:
                    future.cancel()


def _fail(waiting: list[asyncio.Future[None]], exc: Exception) -> None:
    for future in waiting:
        if not future.done():
            future.set_exception(exc)


class Acknowledgements:
    """Each channel's :class:`ChannelAcks`, for as long as the channel exists."""

    def __init__(self) -> None:
        self._channels: WeakKeyDictionary[Any, ChannelAcks] = WeakKeyDictionary()

    def of(self, message: RabbitMessage) -> tuple[ChannelAcks, int] | None:
        """The channel state and tag of ``message``; None when it has no tag (no-ack)."""
        raw = message.raw_message
        tag = raw.delivery_tag
        if not tag:
            return None
        channel = raw.channel  # raises, as an ack would, when the channel has closed
        acks = self._channels.get(channel)
        if acks is None:
            acks = self._channels[channel] = ChannelAcks()
        return acks, tag

    def settled(self, message: RabbitMessage) -> None:
        """``message`` was rejected or parked with a frame of its own, already queued."""
        with contextlib.suppress(Exception):  # a closed channel: its state goes with it
            found = self.of(message)
            if found is not None:
                found[0].settle(found[1])
