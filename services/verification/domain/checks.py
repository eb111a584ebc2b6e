"""The automatic checks, as pure functions over what verification knows.

Automation may verify an order or refer it to a person; it has no way to reject one. The
privacy policy promises that no decision about anyone is made solely by automated means, so
:class:`Outcome` simply has no rejection, and only a reviewer's decision (the review API) can
produce OrderRejected.

Every check reports a :class:`CheckResult`, passed or not, so the reviewer sees what was
checked as well as what failed; a failed check's ``detail`` is the referral reason in plain
words and its ``code`` is what the review queue filters on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.verification.domain import organisations
from services.verification.domain.postcodes import PostcodeVerdict, classify, compact


class Outcome(StrEnum):
    VERIFIED = "verified"
    REFERRED = "referred"
    #: The account's authorised locations have not reached us yet: decide when they do.
    WAIT = "wait"


class Check(StrEnum):
    """What is checked; a failed check's value is the referral reason's code."""

    POSTCODE = "postcode"
    BORDER_POSTCODE = "border_postcode"
    OUTSIDE_ENGLAND = "outside_england"
    NOT_CQC = "not_cqc"
    ADDRESS_AND_PHONE = "address_and_phone"
    LOCATIONS_AUTHORISED = "locations_authorised"
    BED_COUNT = "bed_count"
    LOCATION_SIZE = "location_size"
    EARLIER_ORDER = "earlier_order"
    SAME_ORGANISATION = "same_organisation"


@dataclass(frozen=True)
class CheckResult:
    check: Check
    passed: bool
    detail: str


@dataclass(frozen=True)
class LineFacts:
    location_id: str | None
    staff_count: int


@dataclass(frozen=True)
class LocationFacts:
    location_id: str
    provider_id: str
    care_home: bool
    care_home_beds: int | None
    name: str = ""
    provider_name: str = ""
    #: The register's primary inspection category ("Community based adult social care
    #: services", "Hospice services", ...): what a location without beds is compared by.
    inspection_category: str = ""


@dataclass(frozen=True)
class OrderFacts:
    account_kind: str
    quantity: int
    lines: Sequence[LineFacts]
    delivery_postcode: str
    organisation_name: str = ""


@dataclass(frozen=True)
class OtherAccountOrder:
    """An order placed through a different account that might be the same organisation's."""

    reference: str
    provider_ids: frozenset[str]
    postcode: str
    names: frozenset[str]


@dataclass(frozen=True)
class History:
    """What verification has seen before this order."""

    #: This order's locations that an earlier, uncancelled order already covers.
    locations_already_ordered: set[str] = field(default_factory=set)
    #: Candidate orders from other accounts (same provider ID or same postcode).
    other_accounts: Sequence[OtherAccountOrder] = ()


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """The referral reasons in plain words, in the order the checks ran."""
        return [c.detail for c in self.checks if not c.passed]

    @property
    def reason_codes(self) -> list[str]:
        return [c.check.value for c in self.checks if not c.passed]


@dataclass(frozen=True)
class Policy:
    #: Above this many badges per registered bed a care home's order is referred.
    max_badges_per_bed: float
    #: Non-CQC orders above this size get the address and phone check.
    manual_check_threshold: int
    #: How alike two organisation names must be (0 to 1) to count as the same organisation.
    similar_name_ratio: float = 0.85
    #: A location with no registered beds is referred above this many badges (ADR 0062)...
    max_badges_without_beds: int = 300
    #: ...or above its inspection category's own ceiling, where one is set.
    max_badges_by_category: Mapping[str, int] = field(default_factory=dict)

    def ceiling(self, location: LocationFacts) -> int:
        """The most badges one location without beds is given without a person looking."""
        return self.max_badges_by_category.get(
            location.inspection_category, self.max_badges_without_beds
        )


def evaluate(
    order: OrderFacts,
    authorised: Mapping[str, LocationFacts] | None,
    history: History,
    policy: Policy,
) -> Decision:
    """Verify a CQC order that passes every check; refer anything else, saying why."""
    results = [postcode_check(order.delivery_postcode)]
    if order.account_kind != "cqc":
        results += _non_cqc_checks(order, policy)
        results.append(same_organisation_check(order, {}, history.other_accounts, policy))
        return Decision(Outcome.REFERRED, results)
    if awaits_locations(order, authorised):
        return Decision(Outcome.WAIT)
    known = authorised or {}
    results.append(
        CheckResult(
            Check.LOCATIONS_AUTHORISED,
            True,
            "Every location in the order is one the account is authorised for.",
        )
    )
    ours = {line.location_id or "": known[line.location_id or ""] for line in order.lines}
    results += [size_check(line, ours[line.location_id or ""], policy) for line in order.lines]
    results.append(earlier_order_check(order, history.locations_already_ordered))
    results.append(same_organisation_check(order, ours, history.other_accounts, policy))
    passed = all(r.passed for r in results)
    return Decision(Outcome.VERIFIED if passed else Outcome.REFERRED, results)


def awaits_locations(order: OrderFacts, authorised: Mapping[str, LocationFacts] | None) -> bool:
    """A CQC order waits for its account's locations: :func:`evaluate` would decide nothing
    yet, whatever the history.

    Orders only accepts locations identity authorised, so a location we have not heard of is
    one whose LocationsAuthorised is still on its way: wait for it rather than refer."""
    if order.account_kind != "cqc":
        return False
    known = authorised or {}
    return not known or any((line.location_id or "") not in known for line in order.lines)


def postcode_check(postcode: str) -> CheckResult:
    finding = classify(postcode)
    codes = {
        PostcodeVerdict.ENGLAND: Check.POSTCODE,
        PostcodeVerdict.INVALID: Check.POSTCODE,
        PostcodeVerdict.BORDER: Check.BORDER_POSTCODE,
        PostcodeVerdict.OUTSIDE: Check.OUTSIDE_ENGLAND,
    }
    if finding.verdict is PostcodeVerdict.ENGLAND:
        return CheckResult(Check.POSTCODE, True, "The delivery postcode is in England.")
    return CheckResult(codes[finding.verdict], False, finding.reason)


def _non_cqc_checks(order: OrderFacts, policy: Policy) -> list[CheckResult]:
    results = [
        CheckResult(
            Check.NOT_CQC,
            False,
            "The organisation is not registered with CQC, so a person checks that it provides "
            "adult social care in England.",
        )
    ]
    if order.quantity > policy.manual_check_threshold:
        results.append(
            CheckResult(
                Check.ADDRESS_AND_PHONE,
                False,
                f"The order is for more than {policy.manual_check_threshold} badges: check "
                "that the address and phone number belong to an adult social care organisation.",
            )
        )
    return results


def size_check(line: LineFacts, location: LocationFacts, policy: Policy) -> CheckResult:
    """Every line is compared with something: a care home's registered beds, or else the
    ceiling for a location of its kind (ADR 0062)."""
    if location.care_home and location.care_home_beds:
        return bed_count_check(line, location, policy)
    return ceiling_check(line, location, policy)


def ceiling_check(line: LineFacts, location: LocationFacts, policy: Policy) -> CheckResult:
    """A location without registered beds (home care, supported living, a hospice, a
    community service) is referred above the ceiling for its kind."""
    limit = policy.ceiling(location)
    kind = location.inspection_category or "a location without registered beds"
    if line.staff_count > limit:
        return CheckResult(
            Check.LOCATION_SIZE,
            False,
            f"{line.staff_count:,} badges for location {line.location_id} is more than "
            f"{limit:,}, the most expected for one location of its kind ({kind}) with no "
            "registered beds: check the number of staff.",
        )
    return CheckResult(
        Check.LOCATION_SIZE,
        True,
        f"{line.staff_count:,} badges for location {line.location_id} is within {limit:,}, "
        f"the most expected for one location of its kind ({kind}).",
    )


def bed_count_check(line: LineFacts, location: LocationFacts, policy: Policy) -> CheckResult:
    """A care home's order should not be far above what its registered beds suggest."""
    assert location.care_home_beds
    limit = int(location.care_home_beds * policy.max_badges_per_bed)
    if line.staff_count > limit:
        return CheckResult(
            Check.BED_COUNT,
            False,
            f"{line.staff_count} badges for location {line.location_id} is more than "
            f"{policy.max_badges_per_bed:g} per registered bed ({location.care_home_beds} "
            "beds): check the number of staff.",
        )
    return CheckResult(
        Check.BED_COUNT,
        True,
        f"{line.staff_count} badges for location {line.location_id} is within "
        f"{policy.max_badges_per_bed:g} per registered bed ({location.care_home_beds} beds).",
    )


def earlier_order_check(order: OrderFacts, already_ordered: set[str]) -> CheckResult:
    repeated = sorted(
        line.location_id for line in order.lines if line.location_id in already_ordered
    )
    if repeated:
        return CheckResult(
            Check.EARLIER_ORDER,
            False,
            f"Location {', '.join(repeated)} already has an earlier order.",
        )
    return CheckResult(
        Check.EARLIER_ORDER, True, "No earlier order exists for any location in this order."
    )


def same_organisation_check(
    order: OrderFacts,
    locations: Mapping[str, LocationFacts],
    others: Sequence[OtherAccountOrder],
    policy: Policy,
) -> CheckResult:
    """Has this organisation already ordered through another account?

    The same CQC provider ID is the same organisation; otherwise the same delivery postcode
    and a similar name (of the organisation, its locations or its provider) probably is.
    """
    provider_ids = {loc.provider_id for loc in locations.values() if loc.provider_id}
    names = {order.organisation_name} | {
        n for loc in locations.values() for n in (loc.name, loc.provider_name)
    }
    names.discard("")
    postcode = compact(order.delivery_postcode)
    for other in others:
        shared = sorted(provider_ids & other.provider_ids)
        if shared:
            return CheckResult(
                Check.SAME_ORGANISATION,
                False,
                f"Provider {shared[0]} already ordered through another account "
                f"(order {other.reference}).",
            )
        if (
            postcode
            and compact(other.postcode) == postcode
            and _any_similar(names, other.names, policy.similar_name_ratio)
        ):
            return CheckResult(
                Check.SAME_ORGANISATION,
                False,
                f"An organisation with a similar name at the same postcode already ordered "
                f"through another account (order {other.reference}).",
            )
    return CheckResult(
        Check.SAME_ORGANISATION,
        True,
        "No other account has ordered for the same provider, or for a similarly named "
        "organisation at the same postcode.",
    )


def _any_similar(ours: set[str], theirs: frozenset[str], threshold: float) -> bool:
    return any(organisations.similar(a, b, threshold) for a in ours for b in theirs)
