"""Identity's tables and the queries over them."""

from pathlib import Path

#: Identity's schema history, run by the service at start-up and by the register import.
MIGRATIONS = Path(__file__).parent / "migrations"
