"""Identity's own Prometheus metrics (on the shared registry), so brute-force attacks and
lockouts show on the operations dashboards. Labels are outcomes, never emails or addresses."""

from prometheus_client import Counter

from shared.metrics import REGISTRY

SIGN_IN_ATTEMPTS = Counter(
    "care_sign_in_attempts_total",
    "Sign-in attempts by outcome: succeeded, failed, locked (this failure locked the account) "
    "or refused (account locked or source over its limit; the password was not checked).",
    ["service", "outcome"],
    registry=REGISTRY,
)
PASSWORD_RESETS = Counter(
    "care_password_resets_total",
    "Password-reset journeys by step: requested, limited, completed, refused.",
    ["service", "step"],
    registry=REGISTRY,
)
REGISTRATIONS = Counter(
    "care_registrations_total",
    "Self-registrations by step: started, confirmed, refused.",
    ["service", "step"],
    registry=REGISTRY,
)
