"""Identity's own database: the register copy, accounts, what each may order for, and the
contributions other services send towards a subject access request."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.identity.domain.accounts import AccountStatus, Role
from shared.email import email_outbox_table
from shared.events import AccountKind

metadata = MetaData()


def _one_of(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# CQC's register, refreshed by the import. Rows are deactivated, never deleted, when a location
# leaves the register, so accounts that were authorised for it keep a readable history.
register_locations = Table(
    "register_locations",
    metadata,
    Column("location_id", String(32), primary_key=True),
    # None for the categories CQC gives no ODS code; they sign in with the postcode.
    Column("ods_code", String(16)),
    Column("name", Text, nullable=False),
    Column("address_line_1", Text, nullable=False),
    Column("address_line_2", Text, nullable=False, server_default=""),
    Column("city", Text, nullable=False, server_default=""),
    Column("county", Text, nullable=False, server_default=""),
    Column("postcode", String(16), nullable=False),
    # Folded (trimmed, lower case) by the import: sign-in looks locations up by it.
    Column("email", String(320), nullable=False, index=True),
    Column("provider_id", String(32), nullable=False),
    Column("provider_name", Text, nullable=False),
    Column("care_home", Boolean, nullable=False, server_default="false"),
    Column("care_home_beds", Integer),
    Column("inspection_category", Text, nullable=False, server_default=""),
    Column("region", Text, nullable=False, server_default=""),
    Column("local_authority", Text, nullable=False, server_default=""),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("role", String(32), nullable=False),
    # Only password accounts have one (argon2id); CQC accounts sign in with register codes.
    Column("password_hash", Text),
    Column("status", String(16), nullable=False, server_default=AccountStatus.ACTIVE.value),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Set when the holder chose a password; from then on register codes no longer open it.
    Column("password_changed_at", DateTime(timezone=True)),
    # SHA-256 of the last LocationsAuthorised sent for the account: a sign-in announces the
    # account's locations only when they differ from it (new, gone, or changed on the register).
    Column("locations_announced", LargeBinary(32)),
    # Variants of one address in case or spacing must be one account (brute-force counting).
    CheckConstraint("email = lower(btrim(email))", name="ck_accounts_email_folded"),
    CheckConstraint(_one_of("kind", [k.value for k in AccountKind]), name="ck_accounts_kind"),
    CheckConstraint(_one_of("role", [r.value for r in Role]), name="ck_accounts_role"),
    CheckConstraint(_one_of("status", [s.value for s in AccountStatus]), name="ck_accounts_status"),
)

# The locations an account signed in for, and so may order for. No foreign key to the register:
# the register copy is reloaded and, when the portal closes, emptied on its own schedule.
account_locations = Table(
    "account_locations",
    metadata,
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", String(32), primary_key=True),
    Column("authorised_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Accounts whose holder restricted, or objected to, the use of their data: kept, not used.
account_restrictions = Table(
    "account_restrictions",
    metadata,
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("ground", String(16), nullable=False),
    Column("requested_by", Uuid, nullable=False),
    Column("restricted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Named in AccountRestricted; orders answers AccountHoldApplied with it, and the request
    # is acknowledged (204) only once ``applied_at`` is set (ADR 0061).
    Column("restriction_id", Uuid, nullable=True),
    Column("applied_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("ground IN ('restriction', 'objection')", name="ck_restrictions_ground"),
)

# The portal's closure (privacy policy, retention): one row once operations close it. Closed:
# no new accounts; disposed: every account anonymised and every store of email addresses gone.
portal = Table(
    "portal",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Column("closed_by", Uuid, nullable=False),
    Column("disposed_at", DateTime(timezone=True)),
    CheckConstraint("id = 1", name="ck_portal_one_row"),
)

# A copy of their data someone asked for: who it is about, who asked (the holder or customer
# services on their behalf), when. The contributions below are gathered against it.
subject_access_requests = Table(
    "subject_access_requests",
    metadata,
    Column("request_id", Uuid, primary_key=True),
    Column("account_id", Uuid, nullable=False, index=True),
    Column("requested_by", Uuid, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

subject_access_contributions = Table(
    "subject_access_contributions",
    metadata,
    Column("request_id", Uuid, primary_key=True),
    Column("service", String(32), primary_key=True),
    Column("data", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Who a self-registered account is and where its badges go: CQC accounts have the register.
account_profiles = Table(
    "account_profiles",
    metadata,
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("organisation_name", Text, nullable=False),
    Column("contact_name", Text, nullable=False),
    Column("address_line_1", Text, nullable=False),
    Column("address_line_2", Text, nullable=False, server_default=""),
    Column("city", Text, nullable=False, server_default=""),
    Column("postcode", String(16), nullable=False),
    Column("phone", String(32), nullable=False),
)

# A self-registration waiting for its email address to be confirmed. It is not an account:
# nothing can sign in with it, and housekeeping deletes it when the link expires.
pending_registrations = Table(
    "pending_registrations",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("profile", JSONB, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# Password-reset links: only the SHA-256 of the secret is kept, so a copy of this table opens
# nothing. ``email`` serves a CQC user with no account yet (one is made when the link is used).
reset_tokens = Table(
    "reset_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("email", String(320), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("used_at", DateTime(timezone=True)),
)

# One row per signed-in session; the refresh token's hash rotates on each use, and the one
# before is kept to recognise a stolen copy being replayed.
sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("refresh_hash", LargeBinary(32), nullable=False, unique=True),
    Column("previous_hash", LargeBinary(32), unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_reason", String(32)),
    Index("ix_sessions_account_live", "account_id", postgresql_where="revoked_at IS NULL"),
)

# Brute-force counters, keyed by a keyed hash (never the email or address itself).
throttle = Table(
    "throttle",
    metadata,
    Column("scope", String(16), primary_key=True),
    Column("key", LargeBinary(32), primary_key=True),
    Column("count", Integer, nullable=False, server_default="0"),
    Column("first_at", DateTime(timezone=True)),
    Column("last_at", DateTime(timezone=True)),
    Column("locked_until", DateTime(timezone=True)),
)

# Security events (ASVS V7): who, what, when, from where (a keyed hash), never a password.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now(), index=True),
    Column("action", String(32), nullable=False),
    Column("account_id", Uuid, index=True),
    Column("subject_key", LargeBinary(32)),
    Column("source_key", LargeBinary(32)),
    Column("detail", JSONB, nullable=False, server_default="{}"),
)

# Emails waiting to be sent (reset links, confirmations): queued in the same transaction as
# the change that causes them, deleted once sent.
email_outbox = email_outbox_table(metadata)
