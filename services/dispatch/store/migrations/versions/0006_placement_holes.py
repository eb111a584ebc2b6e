"""placement holes: when each placement was recorded, and an index to find the one below it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # now() is not volatile, so existing rows take it from the catalogue: nothing is rewritten.
    op.add_column(
        'dispatch_orders',
        sa.Column(
            'recorded_at',
            sa.DateTime(timezone=True),
            server_default=sa.text('now()'),
            nullable=False,
        ),
    )
    op.create_index(
        'ix_dispatch_orders_placement_seq',
        'dispatch_orders',
        ['placement_seq'],
        unique=False,
        postgresql_where=sa.text('placement_seq IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index(
        'ix_dispatch_orders_placement_seq',
        table_name='dispatch_orders',
        postgresql_where=sa.text('placement_seq IS NOT NULL'),
    )
    op.drop_column('dispatch_orders', 'recorded_at')
