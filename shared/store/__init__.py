"""Database access, the transactional outbox and the idempotency inbox."""
