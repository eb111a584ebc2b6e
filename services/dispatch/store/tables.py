"""Dispatch's own database: the stock balance and its ledger, orders as dispatch sees them,
shipments and the courier's callbacks.

The stock row is both the fast check and the lock every stock movement takes first; the ledger
is the history the balance must always add up to (``ledger.check_ledger``).
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

stock = Table(
    "stock",
    metadata,
    Column("item", String(32), primary_key=True),
    Column("received", BigInteger, nullable=False, server_default="0"),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    Column("allocated", BigInteger, nullable=False, server_default="0"),
    CheckConstraint(
        "received >= 0 AND reserved >= 0 AND allocated >= 0", name="ck_stock_not_negative"
    ),
    # The database itself refuses to promise badges it does not hold, whatever the code does.
    # Leaflets are counted, not rationed: their count may show a shortfall (ADR 0013).
    CheckConstraint(
        "item <> 'badge' OR received - reserved - allocated >= 0", name="ck_stock_available"
    ),
)

stock_ledger = Table(
    "stock_ledger",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("item", String(32), ForeignKey("stock.item"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("order_id", Uuid, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Receipts and adjustments: who recorded them (a staff account id, or "cli") and why.
    Column("actor", String(64), nullable=True),
    Column("note", String(500), nullable=True),
    CheckConstraint(
        "kind IN ('receipt', 'reservation', 'release', 'allocation', 'adjustment')",
        name="ck_stock_ledger_kind",
    ),
    # Which reservation of the order this movement belongs to: 1 + the order's releases
    # before it. An order whose reservation was requeued (ADR 0010) is reserved again in
    # round 2, and so on.
    Column("round", Integer, nullable=False, server_default="1"),
    CheckConstraint("quantity > 0 OR kind = 'adjustment'", name="ck_stock_ledger_quantity"),
    # Within a round an order is reserved, released and allocated at most once each: a second
    # reservation without a release in between is a double booking, refused here even if a bug
    # let it through the code.
    # (Only badge entries name an order; leaflet entries name their shipment in ``note``.)
    Index(
        "uq_stock_ledger_order_kind_round",
        "order_id",
        "kind",
        "round",
        unique=True,
        postgresql_where=text("order_id IS NOT NULL"),
    ),
    # And stock leaves for an order once, whatever the round.
    Index(
        "uq_stock_ledger_order_allocation",
        "order_id",
        unique=True,
        postgresql_where=text("kind = 'allocation' AND order_id IS NOT NULL"),
    ),
)

dispatch_orders = Table(
    "dispatch_orders",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("account_id", Uuid, nullable=True, index=True),
    # Null until OrderPlaced arrives: other events may come first and create the row.
    Column("placement_seq", BigInteger, nullable=True),
    Column("quantity", Integer, nullable=True),
    Column("placed", Boolean, nullable=False, server_default=false()),
    Column("verified", Boolean, nullable=False, server_default=false()),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("closed", Boolean, nullable=False, server_default=false()),
    Column("delivery", JSONB, nullable=True),
    # The placement's correlation id: the allocator decides later, in another transaction,
    # and the events it emits must still trace back to the user's request.
    Column("correlation_id", String(64), nullable=True),
    # Failed attempts to decide the placement (a bug, not a passing fault); at the limit the
    # allocator leaves it aside, as a consumer parks a poison message (ADR 0011).
    Column("decision_attempts", Integer, nullable=False, server_default="0"),
    # When OrderPlaced was recorded: a placement recorded after a hole in the placement
    # numbers waits a bounded moment from here for the missing one (ADR 0011).
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "state IN ('pending', 'waitlisted', 'reserved', 'allocated', 'released')",
        name="ck_dispatch_orders_state",
    ),
    CheckConstraint("quantity IS NULL OR quantity > 0", name="ck_dispatch_orders_quantity"),
    # The waitlist, in the order it is served.
    Index(
        "ix_dispatch_orders_waitlist",
        "placement_seq",
        postgresql_where=text("state = 'waitlisted' AND NOT closed"),
    ),
    # Placements recorded and waiting for the allocator, in the order it decides them.
    Index(
        "ix_dispatch_orders_undecided",
        "placement_seq",
        postgresql_where=text("placement_seq IS NOT NULL AND NOT placed"),
    ),
    # The placement recorded just below another (the allocator's hole check, ADR 0011).
    Index(
        "ix_dispatch_orders_placement_seq",
        "placement_seq",
        postgresql_where=text("placement_seq IS NOT NULL"),
    ),
    # Reservations that could still move back to the waitlist for an earlier order (ADR 0010).
    Index(
        "ix_dispatch_orders_reserved",
        "placement_seq",
        postgresql_where=text("state = 'reserved' AND NOT closed"),
    ),
)

shipments = Table(
    "shipments",
    metadata,
    Column("reference", String(16), primary_key=True),
    # One shipment per order: a second allocation could not create a second parcel.
    Column(
        "order_id",
        Uuid,
        ForeignKey("dispatch_orders.order_id"),
        nullable=False,
        unique=True,
    ),
    Column("parcels", JSONB, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "status IN ('handed_over', 'delivered', 'failed_attempt', 'returned')",
        name="ck_shipments_status",
    ),
)

# Every authenticated callback, including those for shipments we do not know (kept for
# investigation). The digest of its signature is the replay guard.
courier_callbacks = Table(
    "courier_callbacks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("signature_digest", String(64), nullable=False, unique=True),
    Column("shipment_reference", String(32), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("known", Boolean, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("body", JSONB, nullable=False),
)

# Accounts anonymised so far: an OrderPlaced that arrives after its account's AccountAnonymised
# must not bring the personal data back. Holds ids only.
anonymised_accounts = Table(
    "anonymised_accounts",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Accounts whose holder restricted (or objected to) the use of their data: their orders keep
# what they hold but nothing is handed to the courier until the restriction is lifted. Ids only.
restricted_accounts = Table(
    "restricted_accounts",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: When the portal closed (PortalClosed), one row: the courier data deadline counts from it.
portal_closure = Table(
    "portal_closure",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("id = 1", name="portal_closure_one_row"),
)
