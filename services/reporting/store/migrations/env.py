"""Alembic environment for reporting' database: the shared runner over reporting' metadata."""

from services.reporting.store.tables import metadata
from shared.store.inbox import inbox_table
from shared.store.migrations import run_env
from shared.store.outbox import outbox_table

outbox_table(metadata)
inbox_table(metadata)
run_env(metadata)
