"""reporting's own keys: no order ids, event ids or CQC location ids (ADR 0027)

``order_progress.order_id`` (the real order id, kept while an order is in progress) becomes
``order_key``, an HMAC-SHA256 of it under a random key made here and kept in ``link_key``;
``event_log.event_id`` becomes ``event_key`` the same way (a redelivered event is still logged
once). The rows keep their own numbers (``order_ref``), so no figure moves. ``location_types``
(CQC location ids and their organisation type) goes: orders now puts the type on reporting's
own event (ADR 0026). Downgrading cannot bring the ids back: links are lost, and orders still
in progress are then counted again under "Not known" if their events arrive.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 23:50:00
"""

import hashlib
import hmac
import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def _rekey(
    connection: sa.Connection,
    table: str,
    id_column: str,
    key_column: str,
    row_id: str,
    secret: bytes,
) -> None:
    """Fill ``key_column`` with the keyed hash of ``id_column``, a batch at a time."""
    rows = connection.execute(
        sa.text(f"SELECT {row_id}, {id_column} FROM {table} WHERE {id_column} IS NOT NULL")
    ).all()
    for start in range(0, len(rows), _BATCH):
        connection.execute(
            sa.text(f"UPDATE {table} SET {key_column} = :key WHERE {row_id} = :row"),
            [
                {"row": row, "key": hmac.new(secret, value.bytes, hashlib.sha256).digest()}
                for row, value in rows[start : start + _BATCH]
            ],
        )


def upgrade() -> None:
    connection = op.get_bind()
    link_key = op.create_table(
        "link_key",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("id = 1", name="link_key_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    secret = os.urandom(32)
    op.bulk_insert(link_key, [{"id": 1, "secret": secret}])

    op.add_column("order_progress", sa.Column("order_key", sa.LargeBinary(), nullable=True))
    _rekey(connection, "order_progress", "order_id", "order_key", "order_ref", secret)
    op.drop_index(
        "ix_order_progress_settled",
        table_name="order_progress",
        postgresql_where="order_id IS NOT NULL",
    )
    op.drop_column("order_progress", "order_id")
    op.create_unique_constraint("order_progress_order_key_key", "order_progress", ["order_key"])
    op.create_index(
        "ix_order_progress_settled",
        "order_progress",
        ["settled_at"],
        unique=False,
        postgresql_where="order_key IS NOT NULL",
    )

    op.add_column("event_log", sa.Column("event_key", sa.LargeBinary(), nullable=True))
    _rekey(connection, "event_log", "event_id", "event_key", "id", secret)
    op.drop_column("event_log", "event_id")
    op.alter_column("event_log", "event_key", nullable=False)
    op.create_unique_constraint("event_log_event_key_key", "event_log", ["event_key"])

    op.drop_table("location_types")


def downgrade() -> None:
    op.create_table(
        "location_types",
        sa.Column("location_id", sa.String(length=32), nullable=False),
        sa.Column("org_type", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("location_id"),
    )
    op.drop_constraint("event_log_event_key_key", "event_log", type_="unique")
    op.add_column("event_log", sa.Column("event_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE event_log SET event_id = gen_random_uuid()")
    op.alter_column("event_log", "event_id", nullable=False)
    op.drop_column("event_log", "event_key")
    op.create_unique_constraint("event_log_event_id_key", "event_log", ["event_id"])

    op.drop_index(
        "ix_order_progress_settled",
        table_name="order_progress",
        postgresql_where="order_key IS NOT NULL",
    )
    op.drop_constraint("order_progress_order_key_key", "order_progress", type_="unique")
    op.add_column("order_progress", sa.Column("order_id", sa.Uuid(), nullable=True))
    op.drop_column("order_progress", "order_key")
    op.create_unique_constraint("order_progress_order_id_key", "order_progress", ["order_id"])
    op.create_index(
        "ix_order_progress_settled",
        "order_progress",
        ["settled_at"],
        unique=False,
        postgresql_where="order_id IS NOT NULL",
    )
    op.drop_table("link_key")
