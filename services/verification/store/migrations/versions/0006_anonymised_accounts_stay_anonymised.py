"""anonymised accounts stay anonymised: a mark that a late registration or locations event
does not bring back what anonymisation removed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 15:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: existing rows take it from the catalogue, nothing is rewritten.
    op.add_column(
        'accounts',
        sa.Column('anonymised', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # Accounts anonymised before this mark existed: their email was cleared.
    op.execute("UPDATE accounts SET anonymised = true WHERE email IS NULL")


def downgrade() -> None:
    op.drop_column('accounts', 'anonymised')
