"""Dispatch's tables and the queries over them; every query takes the caller's session.

Modules: ``ledger`` (the stock balance and its ledger), ``orders`` (an order as dispatch sees
it), ``allocations`` (an order's stock leaving with its shipment, in one statement),
``placements`` (placements in placement order: recorded, undecided, waiting for stock),
``shipments`` (shipments and the courier's reports), ``privacy`` and ``closure`` (what the
holder's rights and the portal's closure need), ``gauges`` (the business gauges).

Lock order (the one place it is written down; every module above follows it): a transaction
that may move stock locks the badge stock row first (:func:`ledger.lock_stock`), then order
rows, then shipment rows, then leaflet stock rows. So competing replicas queue on the stock
row instead of double-booking or deadlocking. A consumer's shared transaction runs several
handlers one after another, holding each one's rows until it commits, so every consumer
transaction takes the stock lock before anything else (``app.py``, ``Service.lock_first``):
else a placement recorded before a stock handler would hold its row while waiting for the
stock, and two transactions could take order rows in opposite orders. Dispatch's consumer
transactions therefore run one at a time, and one at a time with the allocator. Every stock
update is also conditional on the balance allowing it, and the database's CHECK constraints and
the ledger's unique (order, kind, round) index refuse what slips past both.

The stock lock is a statement of its own, never folded into the next read: under READ
COMMITTED a statement's snapshot is taken as it starts, so a read in the statement that waited
for the lock would not see what the holder committed (a restriction lifted, say). The order's
lock that follows reads what deciding it needs (:func:`orders.lock_order_to_decide`), and an
allocation then takes its shipment's row and the leaflet rows, in that order, in its one
statement (:func:`allocations.allocate_and_ship`).
"""

from pathlib import Path

#: Dispatch's schema history, run by the service at start-up and by the command line.
MIGRATIONS = Path(__file__).parent / "migrations"
