"""Charts drawn on the server as inline SVG; the page puts the same numbers in a table beside them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
GRID_LINES = 4


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at or above `value` (at least 1): a round top for the axis."""
    top = max(1, value)
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= top:
                return step * factor
        step *= 10


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
    top = nice_ceiling(max((int(p[key]) for p in points for key, _, _ in lines), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(points)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
    ]
    for step in range(GRID_LINES + 1):
        value = top * step // GRID_LINES
        gy = y(value)
        parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(
            f'<text x="{LEFT - 8}" y="{gy + 4:.1f}" text-anchor="end" aria-hidden="true">'
            f"{escape(label_y(value))}</text>"
        )
    ticks = sorted({0, n // 2, n - 1}) if n > 2 else list(range(n))
    for i in ticks:
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" aria-hidden="true">'
            f"{escape(label_x(points[i]['day']))}</text>"
        )
    for key, css, name in lines:
        coords = " ".join(f"{x(i):.1f},{y(int(p[key])):.1f}" for i, p in enumerate(points))
        parts.append(f'<g class="series" data-series="{escape(key)}"><title>{escape(name)}</title>')
        if n > 1:
            parts.append(
                f'<polyline class="{css}" fill="none" stroke-width="2.5" stroke-linejoin="round" '
                f'points="{coords}"/>'
            )
        for i, p in enumerate(points) if n <= 31 else ():
            parts.append(
                f'<circle class="{css}" cx="{x(i):.1f}" cy="{y(int(p[key])):.1f}" r="3" '
                f'fill="none" stroke-width="2"/>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped, the rest are numbers
