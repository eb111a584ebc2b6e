"""Accounts: who signs in, with which role, and who may use the register sign-in."""

from __future__ import annotations

from enum import StrEnum

from shared.events import AccountKind


class Role(StrEnum):
    """What an account may do; tokens carry it and every service checks it per route."""

    PROVIDER = "provider"
    CUSTOMER_SERVICE = "customer_service"
    DHSC_ANALYST = "dhsc_analyst"
    OPERATIONS = "operations"


#: Roles given by the ``staff create`` command; self-registration always makes a provider.
STAFF_ROLES = (Role.CUSTOMER_SERVICE, Role.DHSC_ANALYST, Role.OPERATIONS)


class AccountStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


def may_sign_in_with_register(kind: str, status: str) -> bool:
    """Only an active CQC provider account signs in with a location's public codes.

    An email CQC holds could also belong to a staff or password account; letting an ODS code
    (public) open that account would hand out its role, so the register sign-in refuses it.
    """
    return kind == AccountKind.CQC and status == AccountStatus.ACTIVE
