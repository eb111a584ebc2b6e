"""Launch day's providers: a generated register with the mix the real one has, and who signs in how.

Most CQC providers run one location and sign in with its ODS code; some run several under
one email, sign in with each location's code in turn and order for all of them at once;
hospices, substance misuse and mental health services have no ODS code and sign in with
their postcode; a few sites sit on the Welsh or Scottish border, which verification refers to
a person. Non-CQC providers have no register row: they create an account with a password
and confirm it from an email.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from bench.register import generate, save

#: One location in this many belongs to a provider with three locations under one email.
MULTI_EVERY = 10
MULTI_SIZE = 3
#: One location in this many is a hospice (signs in with its postcode).
POSTCODE_EVERY = 15
#: One location in this many is on a border postcode (referred to a person).
BORDER_EVERY = 60
BORDER_POSTCODES = ("CH1 4AB", "TD9 7AB", "HR3 5AB", "DG16 5AB")


@dataclass(frozen=True)
class Provider:
    """One person who signs in on launch day and what they order."""

    kind: str  # cqc_single, cqc_multi, cqc_postcode, non_cqc
    email: str
    password: str
    #: (location id, staff count) for each location ordered for; the first is delivered to.
    lines: list[tuple[str, int]] = field(default_factory=list)
    #: A multi-location provider's other locations' codes: signing in with each authorises
    #: that location too, as the register codes match one location each.
    more_codes: list[str] = field(default_factory=list)


def launch_providers(path: Path, locations: int, non_cqc: int, seed: int = 11) -> list[Provider]:
    """Write a register of ``locations`` rows to ``path``; return every provider, CQC first."""
    rng = random.Random(seed)
    rows = generate(locations, seed)
    providers: list[Provider] = []
    i = 0
    while i < len(rows):
        if i % MULTI_EVERY == 1 and i + MULTI_SIZE <= len(rows):
            group = rows[i : i + MULTI_SIZE]
            for row in group[1:]:
                row["Location Email"] = group[0]["Location Email"]
            providers.append(
                Provider(
                    "cqc_multi",
                    group[0]["Location Email"],
                    group[0]["Location ODS Code"],
                    [(r["Location ID"], rng.randint(3, 20)) for r in group],
                    [r["Location ODS Code"] for r in group[1:]],
                )
            )
            i += MULTI_SIZE
            continue
        row = rows[i]
        if i % BORDER_EVERY == 7:
            row["Location Postal Code"] = rng.choice(BORDER_POSTCODES)
        if i % POSTCODE_EVERY == 4:
            row["Location Primary Inspection Category"] = "Hospice services"
            row["Location ODS Code"] = ""
            kind, password = "cqc_postcode", row["Location Postal Code"]
        else:
            kind, password = "cqc_single", row["Location ODS Code"]
        providers.append(
            Provider(
                kind, row["Location Email"], password, [(row["Location ID"], rng.randint(3, 30))]
            )
        )
        i += 1
    save(path, rows)
    # Not on the register: one line with no location, delivered to the address registered.
    providers.extend(
        Provider(
            "non_cqc",
            f"manager{n}@non-cqc-care.example",
            f"launch-day-{n}-{seed}-pw",
            lines=[("", rng.randint(3, 40))],
        )
        for n in range(non_cqc)
    )
    return providers


def account_form(provider: Provider) -> dict[str, str]:
    """What a non-CQC provider fills in to create their account: the same answers through
    identity's API and through the site's form, so the two modes register the same accounts."""
    return {
        "organisation_type": "non_cqc",
        "organisation_name": "Launch Day Care",
        "contact_name": "Launch Day",
        "address_line_1": "1 Launch Street",
        "city": "Leeds",
        "postcode": "LS1 4AP",
        "phone": "0113 496 0000",
        "email": provider.email,
        "password": provider.password,
    }
