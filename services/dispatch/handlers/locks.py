"""The lock every dispatch handler that writes dispatch's tables takes before anything else.

In a consumer's shared transaction the handlers run one after another (docs/adr/0051), each
keeping the rows it locked until the commit. Alone, every handler keeps dispatch's lock order
(the stock row before any order row, ``services/dispatch/store/__init__.py``); together they
would not: a transaction that recorded placement X and then waited for the stock held X's row
against the holder of the stock, who wanted it. So every handler that writes (records a
placement, moves stock, changes an address, records or lifts a restriction, notes the
portal's closure) declares the stock lock as its first: the transaction takes it before any
handler runs. Dispatch's consumer transactions then run one at a time, and one at a time
with the allocator (which also takes the stock lock first), so no two of them ever take rows
in opposite orders. What that costs: placements are no longer recorded side by side by
several replicas (ADR 0011), measured in docs/adr/0051's amendment.
"""

from __future__ import annotations

from services.dispatch.store import ledger
from shared.messaging.group_commit import FirstLock

#: Declared by every dispatch handler that writes dispatch's tables (all but the subject
#: access request, which only reads and answers).
STOCK_FIRST = FirstLock("dispatch.stock", ledger.lock_stock)
