"""Reporting's store: counters, an anonymised event log, and orders in progress.

No column here can hold personal data: figures are numbers filed under a day and an
organisation-level category (region, local authority, organisation type, CQC registration);
the log holds the anonymised facts of :mod:`services.reporting.domain.facts`; an order in
progress is linked to a keyed hash of its id only until it has settled (then the hash is
erased). No row holds an order id, an account id or a CQC location id (ADR 0027).
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from shared.web.sessions import web_sessions_table

metadata = MetaData()

# --- counters, all rebuilt from event_log ------------------------------------------------------

#: National figures by day (England's calendar): what every chart and total starts from.
daily_figures = Table(
    "daily_figures",
    metadata,
    Column("day", Date, primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

#: The same order figures by day under each breakdown (dimension, one of its values), one row
#: per series: ``counts[n]`` is the figure on the day whose ordinal (``date.toordinal()``) is
#: n, the array starting at the series' first day. A local authority's year is one row, so a
#: breakdown by day reads a few hundred rows, not tens of thousands.
daily_breakdown = Table(
    "daily_breakdown",
    metadata,
    Column("dimension", String(32), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("dim_value", String(128), primary_key=True),
    Column("counts", ARRAY(Integer), nullable=False),
)

#: Totals to date under each breakdown, kept so a breakdown table reads a few hundred rows.
breakdown_totals = Table(
    "breakdown_totals",
    metadata,
    Column("dimension", String(32), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("dim_value", String(128), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

#: Placed-to-dispatched times: orders per log-spaced bucket of time taken (20 a decade from a
#: millisecond, see domain/durations.py), by the day they were dispatched. A bucket number and
#: a count: nothing here is about any one order.
dispatch_durations = Table(
    "dispatch_durations",
    metadata,
    Column("day", Date, primary_key=True),
    Column("bucket", SmallInteger, primary_key=True),
    Column("orders", BigInteger, nullable=False),
)

#: Orders waiting now (kind "review" or "waitlist") by the second they started waiting.
open_items = Table(
    "open_items",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("since", DateTime(timezone=True), primary_key=True),
    Column("orders", BigInteger, nullable=False),
    Column("badges", BigInteger, nullable=False),
)

# --- what the counters are rebuilt from ---------------------------------------------------------

#: Append-only: one row per consumed event that moves a figure, its anonymised fact only.
#: ``order_ref`` is reporting's own number for the order, meaningless outside this database;
#: ``event_key`` a keyed hash of the event's id (a redelivery is logged once), not the id.
event_log = Table(
    "event_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_key", LargeBinary, nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("order_ref", BigInteger),
    Column("fact", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_event_log_order_ref", "order_ref", "id"),
)

#: Each order's merged state, under reporting's own number for it (``order_ref``).
#: ``order_key`` links the order's later events to it while it is in progress: a keyed hash of
#: the order id (HMAC-SHA256 under ``link_key``), never the id itself, so nothing here can be
#: looked up by an order id without that key. It is erased a while after the order settles
#: (ReportingSettings.order_id_retention_days); then nothing links the row to any order.
order_progress = Table(
    "order_progress",
    metadata,
    Column("order_ref", BigInteger, primary_key=True, autoincrement=True),
    Column("order_key", LargeBinary, unique=True),
    Column("state", JSONB, nullable=False),
    Column("settled_at", DateTime(timezone=True)),
    Index("ix_order_progress_settled", "settled_at", postgresql_where="order_key IS NOT NULL"),
)

#: The key of the hashes above: random, made by migration 0004, one row. It never leaves this
#: database (not in settings, logs or backups' manifests); dropping it unlinks every order.
link_key = Table(
    "link_key",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("secret", LargeBinary, nullable=False),
    CheckConstraint("id = 1", name="link_key_one_row"),
)

#: The staff page sessions of analysts and operations (shared/web/sessions.py): identity's
#: tokens for a signed-in member of staff, never personal data about providers.
web_sessions = web_sessions_table(metadata)
