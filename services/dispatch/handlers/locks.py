"""The lock dispatch's handlers that move stock take before anything else.

In a consumer's shared transaction the handlers run one after another (docs/adr/0051), so a
handler that moves stock declares the stock lock as its first: the transaction takes it before
any handler runs, and a placement recorded (or an address changed) earlier in the same
transaction never holds an order row while it waits for the stock (the lock order in
``services/dispatch/store/__init__.py``).
"""

from __future__ import annotations

from services.dispatch.store import ledger
from shared.messaging.group_commit import FirstLock

#: Declared by every handler whose use case takes ``ledger.lock_stock``.
STOCK_FIRST = FirstLock("dispatch.stock", ledger.lock_stock)
