"""Orders' own database: orders, their lines, status history, and what identity has told orders
about accounts (their locations, and the organisation and address of those that registered
themselves)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.email import email_outbox_table
from shared.web.sessions import web_sessions_table

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("reference", String(16), nullable=False, unique=True),
    Column("account_id", Uuid, nullable=False, index=True),
    Column("account_kind", String(32), nullable=False),
    # Placement order, assigned by the database so replicas agree on who came first.
    Column("seq", BigInteger, Identity(always=True), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("top_up", Boolean, nullable=False, server_default="false"),
    Column("delivery", JSONB, nullable=False),
    # Where the confirmation and dispatch emails go (the address the user signed in with);
    # personal data, removed when the account is anonymised.
    Column("notify_email", String(320), nullable=True),
    Column("placed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", String(32), primary_key=True),
    Column("staff_count", Integer, nullable=False),
)

# One order per location: the primary key makes a second order for it impossible, even when
# two requests race.
location_orders = Table(
    "location_orders",
    metadata,
    Column("location_id", String(32), primary_key=True),
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), index=True),
    Column("status", String(32), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)

# Projection of identity's LocationsAuthorised: which locations an account may order for, with
# the register's name and address used to prefill the order.
authorised_locations = Table(
    "authorised_locations",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("location_id", String(32), primary_key=True),
    Column("details", JSONB, nullable=False),
)

# Orders taken before identity's events about the account arrived (ADR 0061): the token
# authorised the order, so it was accepted and numbered at once; what it still waits for is
# filled in by the event's handler, which then emits OrderPlaced or queues the confirmation.
awaiting_details = Table(
    "awaiting_details",
    metadata,
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", Uuid, nullable=False, index=True),
    # The location whose register details the delivery needs; null once they are known.
    Column("deliver_to", String(32), nullable=True),
    # The confirmation email waits for the address the account registered with.
    Column("email_owed", Boolean, nullable=False, server_default="false"),
    Column("correlation_id", String(64), nullable=False),
)

# Projection of identity's AccountRegistered, kept current by AccountDetailsCorrected: where an
# account's order emails go and, for an account not on CQC's register, the organisation and
# address its badges go to. Personal data: the row is deleted when the account is anonymised.
# ``kind`` is empty while only a correction has arrived (events are not ordered across queues).
registered_accounts = Table(
    "registered_accounts",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=True),
    Column("email", String(320), nullable=True),
    Column("organisation_name", Text, nullable=True),
    Column("contact_name", Text, nullable=True),
    Column("address_line_1", Text, nullable=True),
    Column("address_line_2", Text, nullable=True),
    Column("city", Text, nullable=True),
    Column("postcode", Text, nullable=True),
)

# One order per organisation that registered itself (a local authority may top up instead):
# like location_orders, the primary key makes a second order impossible even when two
# requests race. A cancelled order releases its claim.
organisation_orders = Table(
    "organisation_orders",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
)

# The public site's sessions (shared.web): answers so far and identity's tokens, server-side.
web_sessions = web_sessions_table(metadata)

# Confirmation and dispatch emails, sent by the shared relay after the order commits.
email_outbox = email_outbox_table(metadata)
# Accounts whose data may not be used for new orders: restricted or objected to by the holder
# (until lifted), or anonymised (for good). Ids only.
account_holds = Table(
    "account_holds",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("reason", String(16), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# Set when identity reports the portal closed (PortalClosed): no new orders from then on.
portal_closure = Table(
    "portal_closure",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("closed_at", DateTime(timezone=True), nullable=False),
)

# The site's waiting room (ADR 0052): one ticket per visitor, in arrival order. Nothing
# personal: a ticket is a number the visitor's server-side session holds.
waiting_room = Table(
    "waiting_room",
    metadata,
    Column("seq", BigInteger, Identity(always=True), primary_key=True),
    Column("state", String(10), nullable=False),  # waiting | admitted | left
    Column("arrived_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("admitted_at", DateTime(timezone=True), nullable=True, index=True),
    Column("last_seen", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # An API caller's ticket is found again by a SHA-256 of their account id (site visitors'
    # tickets are in their sessions and have none).
    Column("api_caller", String(64), nullable=True),
    Index("waiting_room_queue", "seq", postgresql_where=text("state = 'waiting'")),
    Index(
        "waiting_room_api_caller",
        "api_caller",
        unique=True,
        postgresql_where=text("state <> 'left'"),
    ),
    Index("waiting_room_state_seen", "state", "last_seen"),
)
