"""Verification's own database: what it knows of accounts, their orders, and every decision."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.web.sessions import web_sessions_table

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("email", String(320)),
    Column("organisation_name", Text),
    Column("postcode", String(16)),
    # The phone number a self-registered account gave: the address and phone check needs it.
    Column("phone", String(32)),
    # Anonymised (the row may be only this mark, if nothing else arrived first): a late
    # registration or locations event stores nothing for it again.
    Column("anonymised", Boolean, nullable=False, server_default=false()),
)

# Who the back office's staff are, by the account id their decisions are recorded under: the
# name their token carried when they last acted, so pages name a reviewer, not an id.
reviewers = Table(
    "reviewers",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Projection of LocationsAuthorised: the register facts the checks need.
authorisations = Table(
    "authorisations",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("location_id", String(32), primary_key=True),
    Column("details", JSONB, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("reference", String(16), nullable=False),
    Column("account_id", Uuid, nullable=False, index=True),
    Column("account_kind", String(32), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    # awaiting_authorisation | verified | referred | rejected | cancelled
    Column("state", String(32), nullable=False),
    Column("reasons", JSONB, nullable=False, server_default="[]"),
    Column("lines", JSONB, nullable=False),
    Column("delivery", JSONB, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", DateTime(timezone=True)),
    # Optimistic lock: a reviewer's decision names the version it saw.
    Column("version", Integer, nullable=False, server_default="1"),
    # What the automatic checks found: [{"check", "passed", "detail"}], and the failed checks'
    # codes, which the review queue filters on.
    Column("checks", JSONB, nullable=False, server_default="[]"),
    Column("reason_codes", JSONB, nullable=False, server_default="[]"),
    # For the same-organisation check: the order's CQC providers, its delivery postcode
    # (compact) and the names it goes by (organisation, locations, providers).
    Column("provider_ids", JSONB, nullable=False, server_default="[]"),
    Column("postcode_key", String(8), nullable=False, server_default="", index=True),
    Column("names", JSONB, nullable=False, server_default="[]"),
)

Index("ix_orders_provider_ids", orders.c.provider_ids, postgresql_using="gin")

# Every location an order covers, to find earlier orders for the same location.
order_locations = Table(
    "order_locations",
    metadata,
    Column("location_id", String(32), primary_key=True),
    Column("order_id", Uuid, primary_key=True),
)

# Append-only: a trigger (migration 0002) refuses UPDATE, DELETE and TRUNCATE, so no code in
# the service can rewrite what happened. Personal values (addresses) live in audit_personal.
audit_trail = Table(
    "audit_trail",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", Uuid, index=True),
    Column("account_id", Uuid, index=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The personal values an audit entry refers to (an address before and after a correction),
# kept apart so anonymising an account can delete them while the trail itself stays whole.
audit_personal = Table(
    "audit_personal",
    metadata,
    Column("audit_id", BigInteger, ForeignKey("audit_trail.id"), primary_key=True),
    Column("account_id", Uuid, nullable=False, index=True),
    Column("before", JSONB),
    Column("after", JSONB),
)

# A reviewer asking for more information: the note stays with the order, which stays queued.
notes = Table(
    "notes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", Uuid, nullable=False, index=True),
    Column("author", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Things after the decision that need a person: a parcel the courier brought back, an address
# correction dispatch could not use. Open until a reviewer marks them dealt with.
follow_ups = Table(
    "follow_ups",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", Uuid, nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    #: The staff member it is addressed to, when it answers something they did.
    Column("raised_for", String(64)),
    Column("resolved_by", String(64)),
    Column("resolved_at", DateTime(timezone=True)),
)

# The back office's page sessions (shared.web): the reviewer's identity tokens stay here.
web_sessions = web_sessions_table(metadata)
