"""Verification's own database: what it knows of accounts, their orders, and every decision."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("email", String(320)),
    Column("organisation_name", Text),
    Column("postcode", String(16)),
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
)

# Every location an order covers, to find earlier orders for the same location.
order_locations = Table(
    "order_locations",
    metadata,
    Column("location_id", String(32), primary_key=True),
    Column("order_id", Uuid, primary_key=True),
)

audit_trail = Table(
    "audit_trail",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", Uuid, index=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
