"""The pool keeps every connection it opens, up to the same ceiling as before.

Overflow connections were closed on return whenever the pool held its size in idle ones, so
bursty launch traffic kept opening PostgreSQL backends (and TLS attempts) it had just closed.
"""

from sqlalchemy.pool import QueuePool

from shared.store.db import Database


def test_the_pool_holds_twice_its_size_and_opens_nothing_beyond() -> None:
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:5432/nowhere", pool_size=5)
    pool = db.engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.size() == 10
    assert pool._max_overflow == 0  # no connection is opened only to be closed on return
