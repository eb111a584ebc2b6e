"""Alembic environment for orders' database: the shared runner over orders' metadata."""

from services.orders.store.tables import metadata
from shared.store.inbox import inbox_table
from shared.store.migrations import run_env
from shared.store.outbox import outbox_table

outbox_table(metadata)
inbox_table(metadata)
run_env(metadata)
