"""portal closure: when it closed, so courier data is purged by a deadline after it (ADR 0067)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 00:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_closure",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="portal_closure_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("portal_closure")
