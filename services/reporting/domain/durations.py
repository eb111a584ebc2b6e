"""How long things took, kept so they read true at every scale from milliseconds to weeks.

A duration is counted in one of a fixed set of log-spaced buckets (:func:`bucket_of`): 20 per
decade from one millisecond, so each bucket is about 12% wide and its geometric middle is
within 6% of every duration in it, whether that is half a second or three weeks. A bucket is
a small integer, so the counts are stored as (day, bucket, orders) with nothing about any
order in them, and they are a pure function of each order's two times: a rebuild from the
event log gives exactly the same counts (docs/adr/0025-time-distributions-and-forecast.md).

Each figure is then shown in the unit that fits it (:func:`in_units`), and the JSON, CSV and
page all carry that one rendering, so they cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: Buckets per factor of ten. 20 keeps every estimate within 6% of the true time.
PER_DECADE = 20
#: The lower edge of bucket 1; anything faster is in bucket 0.
FLOOR_SECONDS = 0.001
#: Durations longer than about 3 years are filed in the last bucket.
MAX_BUCKET = PER_DECADE * 11

#: Relative error of a time read from a bucket (half a bucket's width in log terms).
RELATIVE_ERROR = 10 ** (0.5 / PER_DECADE) - 1


def bucket_of(seconds: float) -> int:
    """The bucket a duration is counted in (negative durations, from clock skew, count as 0)."""
    if seconds < FLOOR_SECONDS:
        return 0
    index = 1 + math.floor(PER_DECADE * math.log10(seconds / FLOOR_SECONDS) + 1e-9)
    return min(index, MAX_BUCKET)


def lower_edge(bucket: int) -> float:
    """The shortest duration counted in ``bucket``, in seconds."""
    if bucket <= 0:
        return 0.0
    return FLOOR_SECONDS * 10 ** ((bucket - 1) / PER_DECADE)


def upper_edge(bucket: int) -> float:
    """The duration just beyond ``bucket``, in seconds."""
    return FLOOR_SECONDS * 10 ** (bucket / PER_DECADE)


def middle(bucket: int) -> float:
    """The duration that stands for ``bucket``: its geometric middle (0 for sub-millisecond)."""
    if bucket <= 0:
        return FLOOR_SECONDS / 2
    return math.sqrt(lower_edge(bucket) * upper_edge(bucket))


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile in seconds of durations counted per bucket, interpolated within the
    bucket on the log scale (durations spread evenly in log terms inside a bucket)."""
    total = sum(n for n in histogram.values() if n > 0)
    if total <= 0:
        return None
    target = q * total
    seen = 0
    for bucket in sorted(histogram):
        n = histogram[bucket]
        if n <= 0:
            continue
        if seen + n >= target:
            share = (target - seen) / n
            if bucket <= 0:
                return FLOOR_SECONDS * share
            low, high = lower_edge(bucket), upper_edge(bucket)
            return float(low * (high / low) ** share)
        seen += n
    return middle(max(histogram))


# --- units ------------------------------------------------------------------------------------

#: (unit, seconds in it, shown in it below this many seconds)
UNITS = (
    ("seconds", 1.0, 60.0),
    ("minutes", 60.0, 3600.0),
    ("hours", 3600.0, 48 * 3600.0),
    ("days", 86400.0, math.inf),
)


def _rounded(value: float) -> float:
    """Two significant figures below 10, whole numbers above: no false precision."""
    if value < 10:
        return round(value, 1) if value >= 0.1 else round(value, 2)
    return float(round(value))


def in_units(seconds: float | None) -> dict[str, Any] | None:
    """A duration as the figure people read: ``{"seconds", "value", "unit", "text"}``.

    ``seconds`` keeps the exact estimate for analysis; ``value`` and ``unit`` are what the page
    shows (seconds under a minute, minutes under an hour, hours under two days, then days).
    """
    if seconds is None:
        return None
    seconds = max(seconds, 0.0)
    unit, size, below = next(u for u in UNITS if seconds < u[2])
    value = _rounded(seconds / size)
    if value >= below / size and unit != "days":  # 59.96 s rounds to 60: say "1 minute"
        index = [u for u, _, _ in UNITS].index(unit) + 1
        unit, size, _ = UNITS[index]
        value = _rounded(seconds / size)
    name = unit[:-1] if value == 1 else unit
    number = f"{value:,.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:,.0f}"
    text = "under 0.01 seconds" if value == 0 and unit == "seconds" else f"{number} {name}"
    return {"seconds": round(seconds, 3), "value": value, "unit": unit, "text": text}


# --- bands for the chart -----------------------------------------------------------------------

#: The bands the page groups times into: (label, from, to) in seconds.
BANDS: tuple[tuple[str, float, float | None], ...] = (
    ("Under 1 second", 0.0, 1.0),
    ("1 to 10 seconds", 1.0, 10.0),
    ("10 seconds to 1 minute", 10.0, 60.0),
    ("1 to 10 minutes", 60.0, 600.0),
    ("10 minutes to 1 hour", 600.0, 3600.0),
    ("1 to 6 hours", 3600.0, 6 * 3600.0),
    ("6 to 24 hours", 6 * 3600.0, 86400.0),
    ("1 to 3 days", 86400.0, 3 * 86400.0),
    ("3 to 7 days", 3 * 86400.0, 7 * 86400.0),
    ("7 days or more", 7 * 86400.0, None),
)


def band_of(bucket: int) -> str:
    """The band a bucket falls in, by its middle: exact at 1 s and 10 s (bucket edges), and
    within 6% of the other band edges."""
    moment = middle(bucket)
    for label, low, high in BANDS:
        if moment >= low and (high is None or moment < high):
            return label
    return BANDS[-1][0]


def by_band(histogram: Mapping[int, int]) -> dict[str, int]:
    """Counts per band, every band present (zero when empty), in order."""
    out = {label: 0 for label, _, _ in BANDS}
    for bucket, n in histogram.items():
        out[band_of(bucket)] += n
    return out
