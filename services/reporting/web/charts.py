"""Server-drawn SVG charts in the GOV.UK colours: no JavaScript and no inline styles (the
platform's Content-Security-Policy allows neither), each with a title and a description.

A chart with too little data says so rather than drawing something misleading: a line chart
with one day draws that day's figures as bars and says a line needs more days, and a chart
with nothing in it says there is no data yet.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from datetime import date

from services.reporting.domain.figures import SUPPRESSED

BLUE, GREEN, ORANGE, PURPLE, RED, GREY = (
    "#1d70b8",
    "#00703c",
    "#f47738",
    "#4c2c92",
    "#d4351c",
    "#505a5f",
)
W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
#: Days needed before a running total is drawn as a line.
MIN_DAYS_FOR_LINE = 2

Point = int | str | None


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: object) -> str:
    """A figure as the page shows it: thousands separated, suppressed said in words."""
    if value is None:
        return "-"
    if value == SUPPRESSED:
        return "suppressed"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def short_day(day: str) -> str:
    return date.fromisoformat(day).strftime("%-d %b")


def nice_max(value: float) -> float:
    """A round number at or above ``value`` for the top of an axis."""
    if value <= 0:
        return 1
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return 10.0 * power


def el(name: str, content: str = "", **attrs: object) -> str:
    """One element; attribute names use ``_`` for ``-`` and ``class_`` for ``class``."""
    text = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{esc(value)}"' for key, value in attrs.items()
    )
    return f"<{name}{text}>{content}</{name}>"


def _n(value: float) -> str:
    return f"{value:.1f}"


def _axes(top: float, x_labels: Sequence[tuple[float, str]]) -> list[str]:
    parts = []
    for i in range(5):
        v = top * i / 4
        y = _n(H - BOTTOM - (H - TOP - BOTTOM) * i / 4)
        parts.append(el("line", class_="grid", x1=LEFT, x2=W - RIGHT, y1=y, y2=y))
        label = fmt(int(v)) if v == int(v) else fmt(v)
        parts.append(
            el("text", label, class_="tick", x=LEFT - 6, y=_n(float(y) + 4), text_anchor="end")
        )
    for x, label in x_labels:
        parts.append(
            el("text", esc(label), class_="tick", x=_n(x), y=H - BOTTOM + 18, text_anchor="middle")
        )
    parts.append(el("line", class_="axis", x1=LEFT, x2=W - RIGHT, y1=H - BOTTOM, y2=H - BOTTOM))
    return parts


def _svg(title: str, description: str, body: list[str], ident: str, height: int = H) -> str:
    return el(
        "svg",
        el("title", esc(title), id=f"{ident}-t")
        + el("desc", esc(description), id=f"{ident}-d")
        + "".join(body),
        class_="chart",
        viewBox=f"0 0 {W} {height}",
        role="img",
        aria_labelledby=f"{ident}-t {ident}-d",
        xmlns="http://www.w3.org/2000/svg",
    )


def _note(text: str, y: float = TOP + 20) -> str:
    return el("text", esc(text), class_="note", x=(W + LEFT) / 2, y=_n(y), text_anchor="middle")


def _legend(series: Sequence[tuple[str, str]]) -> str:
    key = '<rect width="16" height="16" fill="{}"/>'
    items = "".join(
        el(
            "li",
            el("svg", key.format(esc(c)), class_="key", viewBox="0 0 16 16", aria_hidden="true")
            + esc(n),
        )
        for n, c in series
    )
    return el("ul", items, class_="legend")


def _x_ticks(days: Sequence[str], x_of: Callable[[int], float]) -> list[tuple[float, str]]:
    if not days:
        return []
    count = min(len(days), 6)
    picks = sorted({round(i * (len(days) - 1) / max(count - 1, 1)) for i in range(count)})
    return [(x_of(i), short_day(days[i])) for i in picks]


def _bars(
    values: Sequence[Point],
    colours: Sequence[str],
    labels: Sequence[tuple[float, str]] | None,
    headroom: float = 1.0,
) -> tuple[list[str], float]:
    """Bars for ``values`` on fresh axes (``headroom`` above the tallest, for a note);
    returns the parts and the axis top."""
    top = nice_max(headroom * max((v for v in values if isinstance(v, int)), default=0))
    n = max(len(values), 1)
    slot = (W - LEFT - RIGHT) / n
    width = max(slot * 0.7, 1)

    def y_of(v: float) -> float:
        return H - BOTTOM - (H - TOP - BOTTOM) * v / top

    body = _axes(top, labels if labels is not None else [])
    for i, v in enumerate(values):
        x = LEFT + slot * i + (slot - width) / 2
        if isinstance(v, int) and v > 0:
            y = y_of(v)
            body.append(
                el(
                    "rect",
                    x=_n(x),
                    y=_n(y),
                    width=_n(width),
                    height=_n(H - BOTTOM - y),
                    fill=colours[i % len(colours)],
                )
            )
        elif v == SUPPRESSED:
            body.append(
                el(
                    "text",
                    "*",
                    class_="note",
                    x=_n(x + width / 2),
                    y=H - BOTTOM - 6,
                    text_anchor="middle",
                )
            )
    return body, top


def _slot_labels(labels: Sequence[str]) -> list[tuple[float, str]]:
    slot = (W - LEFT - RIGHT) / max(len(labels), 1)
    return [(LEFT + slot * (i + 0.5), lab) for i, lab in enumerate(labels)]


def not_enough_for_a_line(days: Sequence[str]) -> str:
    if not days:
        return "No data yet."
    return (
        f"Only {short_day(days[0])} so far: shown as bars until there are "
        f"{MIN_DAYS_FOR_LINE} days for a line."
    )


def line_chart(
    ident: str,
    title: str,
    description: str,
    days: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[Point]]],
    dashed: Sequence[tuple[str, str, Sequence[tuple[int, float]]]] = (),
) -> str:
    """Running totals by day; with fewer than two days, that day's figures as bars."""
    if len(days) < MIN_DAYS_FOR_LINE:
        note = not_enough_for_a_line(days)
        last = [vals[-1] if vals else None for _, _, vals in series]
        labels = _slot_labels([n for n, _, _ in series])
        body, _ = _bars(last, [c for _, c, _ in series], labels, headroom=1.25)
        body.append(_note(note))
        return _svg(title, f"{description} {note}", body, ident)
    numbers: list[float] = [v for _, _, vals in series for v in vals if isinstance(v, int)]
    numbers += [v for _, _, pts in dashed for _, v in pts]
    top = nice_max(max(numbers, default=0))
    span = max(len(days) - 1, 1)

    def x_of(i: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * i / span

    def y_of(v: float) -> float:
        return H - BOTTOM - (H - TOP - BOTTOM) * v / top

    body = _axes(top, _x_ticks(days, x_of))
    for _, colour, values in series:
        segments: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(values):
            if isinstance(v, int):
                segments[-1].append((x_of(i), y_of(v)))
            elif segments[-1]:
                segments.append([])
        for seg in segments:
            if len(seg) == 1:
                body.append(el("circle", cx=_n(seg[0][0]), cy=_n(seg[0][1]), r=3, fill=colour))
            elif seg:
                points = " ".join(f"{_n(x)},{_n(y)}" for x, y in seg)
                body.append(el("polyline", class_="line", points=points, stroke=colour))
    for _, colour, pts in dashed:
        points = " ".join(f"{_n(x_of(i))},{_n(y_of(v))}" for i, v in pts)
        body.append(el("polyline", class_="line dashed", points=points, stroke=colour))
    legend = _legend([(n, c) for n, c, _ in series] + [(n, c) for n, c, _ in dashed])
    return _svg(title, description, body, ident) + legend


def bar_chart(
    ident: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[Point],
    colour: str = BLUE,
    every_label: bool = True,
) -> str:
    """One bar per label; says "No data yet" when there is nothing to draw."""
    slot_labels = _slot_labels(labels)
    ticks = slot_labels if every_label else _x_ticks(labels, lambda i: slot_labels[i][0])
    body, _ = _bars(values, [colour], ticks)
    if not any(v == SUPPRESSED or (isinstance(v, int) and v > 0) for v in values):
        body.append(_note("No data yet."))
        description = f"{description} No data yet."
    return _svg(title, description, body, ident)


def hbar_chart(ident: str, title: str, description: str, rows: Sequence[tuple[str, Point]]) -> str:
    height = 24 * len(rows) + 24
    label_w = 200
    numbers = [v for _, v in rows if isinstance(v, int)]
    top = nice_max(max(numbers, default=0))
    body = []
    if not rows:
        body.append(_note("No data yet."))
        height = 48
    for i, (label, v) in enumerate(rows):
        y = 12 + 24 * i
        body.append(
            el("text", esc(label), class_="tick", x=label_w - 8, y=y + 15, text_anchor="end")
        )
        if isinstance(v, int):
            w = (W - label_w - 80) * v / top
            body.append(el("rect", x=label_w, y=y + 3, width=_n(w), height=16, fill=BLUE))
            body.append(el("text", fmt(v), class_="tick", x=_n(label_w + w + 6), y=y + 15))
        else:
            body.append(el("text", fmt(v), class_="note", x=label_w, y=y + 15))
    return _svg(title, description, body, ident, height)
