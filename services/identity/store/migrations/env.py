"""Alembic environment for identity's database: the shared runner over identity's metadata."""

from services.identity.store.tables import metadata
from shared.store.inbox import inbox_table
from shared.store.migrations import run_env
from shared.store.outbox import outbox_table

outbox_table(metadata)
inbox_table(metadata)
run_env(metadata)
