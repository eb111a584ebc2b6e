"""Dispatch's tables and the queries over them; every query takes the caller's session.

Modules: ``ledger`` (the stock balance and its ledger), ``orders`` (an order as dispatch sees
it), ``placements`` (placements in placement order: recorded, undecided, waiting for stock),
``shipments`` (shipments and the courier's reports), ``privacy`` and ``closure`` (what the
holder's rights and the portal's closure need), ``gauges`` (the business gauges).

Lock order (the one place it is written down; every module above follows it): a transaction
that may move stock locks the badge stock row first (:func:`ledger.lock_stock`), then order
rows, then shipment rows, then leaflet stock rows. So competing replicas queue on the stock
row instead of double-booking or deadlocking. Recording a placement locks only its own order
row and takes nothing after it. Every stock update is also conditional on the balance allowing
it, and the database's CHECK constraints and the ledger's unique (order, kind, round) index
refuse what slips past both.
"""

from pathlib import Path

#: Dispatch's schema history, run by the service at start-up and by the command line.
MIGRATIONS = Path(__file__).parent / "migrations"
