"""Charts drawn on the server as inline SVG; the page puts the same numbers in a table beside them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
MAX_GRID_STEPS = 5
# Colours drawn into the SVG itself: inside the Shopify admin no stylesheet of ours styles the page.
AXIS, LABEL = "#d5dde3", "#55636e"
SERIES = {"line-engaged": "#0b6e6e", "line-unengaged": "#b0701c", "line-blocked": "#a8324a"}
DEFAULT_SERIES = "#1f5fd6"


def axis(maximum: int) -> tuple[int, int]:
    """The axis's top and step: whole steps of 1, 2, 2.5 or 5 × 10ⁿ, at most five of them, the
    smallest top at or above `maximum` (0 to 5 for an empty chart)."""
    wanted = max(1, maximum) / MAX_GRID_STEPS
    exponent = 0
    while True:
        for factor in (1.0, 2.0, 2.5, 5.0):
            step = factor * 10**exponent
            if step == int(step) and step >= wanted:
                steps = -(-max(1, maximum) // int(step))
                return int(step) * steps, int(step)
        exponent += 1


def _opening(title: str, title_id: str) -> list[str]:
    """The SVG element and its title, which names the image for screen readers."""
    return [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{title_id}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{title_id}">{escape(title)}</title>',
    ]


def _day_ticks(count: int) -> list[tuple[int, str]]:
    """The days labelled under the chart (first, middle, last) and how each label is anchored."""
    ticks = sorted({0, count // 2, count - 1}) if count > 2 else list(range(count))
    return [
        (i, "start" if i == 0 and count > 1 else "end" if i == count - 1 and count > 1 else "middle")
        for i in ticks
    ]


def _day_label(x: float, anchor: str, text: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" fill="{LABEL}" font-size="12" '
        f'aria-hidden="true">{escape(text)}</text>'
    )


def _value_grid(top: int, step: int, y: Callable[[int], float], label_y: Callable[[int], str]) -> list[str]:
    """The horizontal grid lines of a chart's value axis, each with its label on the left."""
    parts = []
    for value in range(0, top + 1, step):
        gy = y(value)
        parts.append(
            f'<line class="axis" stroke="{AXIS}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{gy:.1f}" y2="{gy:.1f}"/>'
        )
        parts.append(
            f'<text x="{LEFT - 8}" y="{gy + 4:.1f}" text-anchor="end" fill="{LABEL}" font-size="12" '
            f'aria-hidden="true">{escape(label_y(value))}</text>'
        )
    return parts


def line_chart(
    points: Sequence[dict[str, Any]],
    lines: Sequence[tuple[str, str, str]],
    *,
    title: str,
    label_x: Callable[[str], str],
    label_y: Callable[[int], str],
) -> Markup:
    """A line per (key, css class, name) over `points` (each with `day` and the keys), as an SVG image.

    Each series is a group titled with its name; a single point is drawn as dots, not a line.
    """
    top, step = axis(max((int(p[key]) for p in points for key, _, _ in lines), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(points)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = _opening(title, "chart-title") + _value_grid(top, step, y, label_y)
    for i, anchor in _day_ticks(n):
        parts.append(_day_label(x(i), anchor, label_x(points[i]["day"])))
    for key, css, name in lines:
        colour = SERIES.get(css, DEFAULT_SERIES)
        coords = " ".join(f"{x(i):.1f},{y(int(p[key])):.1f}" for i, p in enumerate(points))
        parts.append(f'<g class="series" data-series="{escape(key)}"><title>{escape(name)}</title>')
        if n > 1:
            parts.append(
                f'<polyline class="{css}" fill="none" stroke="{colour}" stroke-width="2.5" '
                'stroke-linejoin="round" '
                f'points="{coords}"/>'
            )
        for i, p in enumerate(points) if n <= 31 else ():
            parts.append(
                f'<circle class="{css}" cx="{x(i):.1f}" cy="{y(int(p[key])):.1f}" r="3" '
                f'fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped, the rest are numbers


# Carts page: bars of abandoned and recovered carts per day.
BAR_COLOURS = {"bar-abandoned": "#b0701c", "bar-recovered": "#0b6e6e"}
BAR_FILL = 0.8  # share of a day's width its bars take; the rest separates the days


def bar_chart(
    points: Sequence[dict[str, Any]],
    bars: Sequence[tuple[str, str, str]],
    *,
    title: str,
    label_x: Callable[[str], str],
    label_y: Callable[[int], str],
) -> Markup:
    """A bar per (key, css class, name) for each of `points` (each with `day` and the keys), side by
    side, as an SVG image; each series is a group titled with its name."""
    top, step = axis(max((int(p[key]) for p in points for key, _, _ in bars), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(points))
    slot = plot_w / n
    width = slot * BAR_FILL / max(1, len(bars))

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = _opening(title, "bar-chart-title") + _value_grid(top, step, y, label_y)
    for i, anchor in _day_ticks(len(points)):
        # A bar's slot: its label starts at the slot's left edge, ends at its right, or is centred.
        tx = LEFT + slot * {"start": i, "end": i + 1, "middle": i + 0.5}[anchor]
        parts.append(_day_label(tx, anchor, label_x(points[i]["day"])))
    for b, (key, css, name) in enumerate(bars):
        colour = BAR_COLOURS.get(css, DEFAULT_SERIES)
        parts.append(f'<g class="series" data-series="{escape(key)}"><title>{escape(name)}</title>')
        for i, p in enumerate(points):
            value = int(p[key])
            if not value:
                continue
            bx = LEFT + slot * i + slot * (1 - BAR_FILL) / 2 + width * b
            parts.append(
                f'<rect class="{css}" fill="{colour}" x="{bx:.1f}" y="{y(value):.1f}" '
                f'width="{width:.1f}" height="{plot_h * value / top:.1f}"/>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped, the rest are numbers
