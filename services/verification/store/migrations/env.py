"""Alembic environment for verification' database: the shared runner over verification' metadata."""

from services.verification.store.tables import metadata
from shared.store.inbox import inbox_table
from shared.store.migrations import run_env
from shared.store.outbox import outbox_table

outbox_table(metadata)
inbox_table(metadata)
run_env(metadata)
