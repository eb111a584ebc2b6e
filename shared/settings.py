"""Settings every service reads from its environment (twelve-factor; no secrets in the repo).

Each service subclasses :class:`ServiceSettings` with its own prefix (``CARE_ORDERS_`` ...), so
five services can run side by side from one shell; the broker address and the token public key
are platform-wide and read without a prefix.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common settings; subclasses set ``service`` and ``model_config['env_prefix']``."""

    model_config = SettingsConfigDict(extra="ignore")

    service: str = "service"
    database_url: str = ""
    #: One broker address, or several separated by commas (one per node of a RabbitMQ
    #: cluster): the connection fails over between them (shared/messaging/failover.py).
    amqp_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672/",
        validation_alias=AliasChoices("CARE_AMQP_URL"),
    )
    token_public_key: str = Field(
        "", validation_alias=AliasChoices("CARE_TOKEN_PUBLIC_KEY"), repr=False
    )
    token_issuer: str = "care-identity"  # noqa: S105 - an issuer name, not a secret
    log_level: str = Field("INFO", validation_alias=AliasChoices("CARE_LOG_LEVEL"))
    #: Unacknowledged deliveries a consumer holds at once: bounds memory under a backlog.
    prefetch: int = 32
    #: Database connections per instance, kept open up to twice this many (see
    #: shared/store/db.py). PostgreSQL allows 100 by default across every service and
    #: replica, so each instance keeps few.
    db_pool_size: int = 5
    #: Consumer transactions open at once across all of the instance's queues (0:
    #: db_pool_size). One by default: a worker that takes everything waiting, waits a moment
    #: and takes everything again carries several deliveries per transaction at launch load,
    #: where five workers each took one or two (docs/adr/0054-cost-per-order-levers.md, ninth
    #: step: 7.7 -> 3.9 transactions, 50.4 -> 36.5 statements and 64.6 -> 46.9 ms of CPU per
    #: order). A backlog is taken a full batch at a time without waiting; more throughput is
    #: more pods, each with its own worker.
    consumer_concurrency: int = 1
    #: Deliveries one consumer transaction may carry when they wait together (group commit,
    #: shared/messaging/group_commit.py); 1 gives every delivery a transaction of its own.
    consumer_batch: int = 50
    #: How long a consumer worker waits, after the first delivery wakes it and after each
    #: transaction that left less than a full batch waiting, before it takes what is waiting:
    #: the events of an order reach a service tens of milliseconds apart, and each delivery
    #: that shares a transaction spares a BEGIN, an inbox claim and a COMMIT. Each step of an
    #: order's saga may wait this much more, beside the transaction before it (the provider
    #: waits for none of them). Never before deliveries run again alone after a failure.
    consumer_linger_seconds: float = 0.05
    outbox_batch: int = 200
    #: The outbox relay publishes what its own process commits as it commits; the poll (the
    #: sweep) only finds rows another process wrote (a CLI, a replica that died before
    #: relaying) or a refused publish left. At 0.5 s the five relays' polls were most of an
    #: idle platform's 14 transactions a second (docs/adr/0053-cost-per-order.md).
    outbox_poll_seconds: float = 2.0
    #: The sweep sends rows left unpublished this long: younger ones are being published
    #: from memory by the process that committed them (docs/adr/0081).
    outbox_sweep_after_seconds: float = 5.0
    #: Published outbox rows (which may hold personal data) are deleted after this long.
    outbox_retention_hours: float = 24.0
    #: Inbox rows (ids only) are deleted after this long: longer than any redelivery or
    #: operator replay from a dead-letter queue can take.
    inbox_retention_days: float = 7.0
    migrate_on_start: bool = True
    graceful_timeout_seconds: float = 30.0

    def resolved_database_url(self) -> str:
        """The configured URL, or the local PostgreSQL database named for the service."""
        return self.database_url or (
            f"postgresql+asyncpg://postgres@127.0.0.1:5432/care_{self.service}"
        )
