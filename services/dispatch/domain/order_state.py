"""An order's life in dispatch, as a state machine that accepts its events in any order.

Four things can happen to an order: it is placed (quantity known, stock can be taken), it is
verified, it is closed (rejected or cancelled), its account is anonymised. They come from
different services over different queues, so any of them may come first, and any may come
again. Each function here takes what dispatch knows of the order and returns what it knows
afterwards plus the side effects to carry out, in order; repeating an event changes nothing.

An order is allocated (parcels made, courier told) exactly when it holds a reservation and is
verified (and its account is not restricted: :func:`held_back`), and once allocated nothing
here undoes it: the parcel has left.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class State(StrEnum):
    #: Known but holding no stock: not placed yet, or closed before it was placed.
    PENDING = "pending"
    WAITLISTED = "waitlisted"
    RESERVED = "reserved"
    ALLOCATED = "allocated"
    #: Closed after it held a reservation or a waitlist place, which it gave up.
    RELEASED = "released"


class Action(StrEnum):
    """Side effects of a transition, for the caller to carry out in the order given."""

    RESERVE = "reserve"
    WAITLIST = "waitlist"
    ALLOCATE = "allocate"
    #: Give the reserved stock back.
    RELEASE = "release"
    #: Drop the order from the waitlist (it held no stock).
    LEAVE_WAITLIST = "leave_waitlist"
    #: Stock or a place in the queue was freed: reserve for whoever waits next.
    SERVE_WAITLIST = "serve_waitlist"
    #: Replace the delivery details with a placeholder holding nothing personal.
    SCRUB_DELIVERY = "scrub_delivery"


@dataclass(frozen=True)
class OrderFacts:
    """What dispatch knows of an order; ``closed`` means rejected, cancelled or anonymised."""

    state: State = State.PENDING
    placed: bool = False
    verified: bool = False
    closed: bool = False


@dataclass(frozen=True)
class Transition:
    after: OrderFacts
    actions: tuple[Action, ...] = ()
    #: Why nothing (or less than usual) happened, worth a log line.
    note: str = ""


def placed(facts: OrderFacts, *, can_reserve: bool) -> Transition:
    """OrderPlaced: take stock now if ``can_reserve``, else join the waitlist."""
    if facts.placed:
        return Transition(facts, note="placement already seen")
    now = replace(facts, placed=True)
    if facts.closed:
        return Transition(now, note="closed before it was placed: no stock taken")
    if not can_reserve:
        return Transition(replace(now, state=State.WAITLISTED), (Action.WAITLIST,))
    return _reserved(now)


def reserved_from_waitlist(facts: OrderFacts) -> Transition:
    """The waitlist reached this order and stock is there for it."""
    if facts.state is not State.WAITLISTED or facts.closed:
        return Transition(facts, note="no longer waiting")
    return _reserved(facts)


def requeued(facts: OrderFacts) -> Transition:
    """An order placed earlier arrived late and takes back the stock this one held.

    Only a reservation that has not been allocated can move: the order goes back to the
    waitlist in its own place, and gets stock again when the waitlist reaches it.
    """
    if facts.state is not State.RESERVED or facts.closed:
        return Transition(facts, note="holds no reservation that can move")
    return Transition(replace(facts, state=State.WAITLISTED), (Action.RELEASE, Action.WAITLIST))


def _reserved(facts: OrderFacts) -> Transition:
    if facts.verified:
        return Transition(replace(facts, state=State.ALLOCATED), (Action.RESERVE, Action.ALLOCATE))
    return Transition(replace(facts, state=State.RESERVED), (Action.RESERVE,))


def verified(facts: OrderFacts) -> Transition:
    """OrderVerified: ship it if stock is reserved, otherwise remember for when it is."""
    if facts.verified:
        return Transition(facts, note="verification already seen")
    now = replace(facts, verified=True)
    if facts.closed:
        return Transition(now, note="verified after it was closed: nothing to ship")
    if facts.state is State.RESERVED:
        return Transition(replace(now, state=State.ALLOCATED), (Action.ALLOCATE,))
    return Transition(now)


def closed(facts: OrderFacts) -> Transition:
    """OrderRejected or OrderCancelled: give back whatever the order holds."""
    if facts.closed:
        return Transition(facts, note="already closed")
    now = replace(facts, closed=True)
    if facts.state is State.RESERVED:
        return Transition(
            replace(now, state=State.RELEASED), (Action.RELEASE, Action.SERVE_WAITLIST)
        )
    if facts.state is State.WAITLISTED:
        return Transition(
            replace(now, state=State.RELEASED), (Action.LEAVE_WAITLIST, Action.SERVE_WAITLIST)
        )
    if facts.state is State.ALLOCATED:
        return Transition(now, note="closed after allocation: the parcel is with the courier")
    return Transition(now)


def anonymised(facts: OrderFacts) -> Transition:
    """AccountAnonymised: an order not yet handed over can no longer be delivered.

    Its delivery is scrubbed, so it is closed too (else it would hold stock for ever, or be
    handed to the courier with a placeholder address). One already handed over keeps what the
    courier needs to finish the delivery.
    """
    if facts.state is State.ALLOCATED:
        return Transition(facts, note="already handed over: the courier keeps the delivery")
    closing = closed(facts)
    return Transition(closing.after, (Action.SCRUB_DELIVERY, *closing.actions), closing.note)


def held_back(transition: Transition) -> Transition:
    """The account is restricted: an order that would be handed over keeps its reservation
    instead (verified, reserved, not allocated) until the restriction is lifted."""
    if Action.ALLOCATE not in transition.actions:
        return transition
    return Transition(
        replace(transition.after, state=State.RESERVED),
        tuple(a for a in transition.actions if a is not Action.ALLOCATE),
        "account restricted: held back from the courier",
    )


def restriction_lifted(facts: OrderFacts) -> Transition:
    """The restriction is lifted: an order held back is handed over now."""
    if facts.state is State.RESERVED and facts.verified and not facts.closed:
        return Transition(replace(facts, state=State.ALLOCATED), (Action.ALLOCATE,))
    return Transition(facts)
