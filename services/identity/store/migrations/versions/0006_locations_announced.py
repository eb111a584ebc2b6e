"""locations announced: a digest of the last LocationsAuthorised sent for each account

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 23:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for every existing account: its next sign-in announces its locations once.
    op.add_column('accounts', sa.Column('locations_announced', sa.LargeBinary(32), nullable=True))


def downgrade() -> None:
    op.drop_column('accounts', 'locations_announced')
