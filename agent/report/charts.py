"""Inline SVG charts: sparklines, horizontal bars and budget gauges, as strings.

Every chart is a self-contained `<svg>` with a fixed viewBox that scales down with the
page (`max-width:100%`), carries a `<title>` for screen readers and mail clients that
drop SVG, and uses presentation attributes only: no CSS classes to resolve, no scripts,
no fonts to fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

GREEN, ORANGE, RED, BLUE, GREY, INK = (
    "#1a7f37",
    "#bc4c00",
    "#cf222e",
    "#0969da",
    "#d0d7de",
    "#1f2328",
)
MUTED = "#57606a"
FONT = "font-family=\"-apple-system,'Segoe UI',Helvetica,Arial,sans-serif\""


def _svg(kind: str, width: int, height: int, title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{kind}" '
        f'role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'style="max-width:100%;height:auto" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def sparkline(
    values: Sequence[float | None],
    title: str,
    width: int = 120,
    height: int = 28,
    color: str = BLUE,
    floor: float | None = None,
) -> str:
    """A line through the values, left to right; gaps where a value is missing."""
    present = [v for v in values if v is not None]
    pad = 3
    if not present:
        line = f'<line x1="{pad}" y1="{height / 2}" x2="{width - pad}" y2="{height / 2}" '
        line += f'stroke="{GREY}" stroke-dasharray="3 3"/>'
        return _svg("sparkline", width, height, f"{title}: no data", line)
    low = min(present) if floor is None else min(floor, *present)
    high = max(present)
    if high == low:
        # A flat series sits in the middle: at the bottom it would read as "zero".
        low, high = low - 1.0, high + 1.0
    span = high - low
    n = len(values)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * (v - low) / span

    runs: list[list[tuple[float, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((x(i), y(v)))
    body = ""
    for run in runs:
        if len(run) == 1:
            body += f'<circle cx="{_f(run[0][0])}" cy="{_f(run[0][1])}" r="1.5" fill="{color}"/>'
        elif run:
            pts = " ".join(f"{_f(px)},{_f(py)}" for px, py in run)
            body += (
                f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5" '
                'stroke-linejoin="round"/>'
            )
    last = next((i for i in range(n - 1, -1, -1) if values[i] is not None), None)
    if last is not None:
        v = values[last]
        assert v is not None
        body += f'<circle cx="{_f(x(last))}" cy="{_f(y(v))}" r="2.5" fill="{color}"/>'
    return _svg("sparkline", width, height, title, body)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as printed beside the bar
    color: str = BLUE


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def bars(items: Sequence[Bar], title: str, width: int = 640, label_width: int = 180) -> str:
    """Horizontal bars from a shared zero, labels left and values right."""
    row, pad, value_width = 22, 4, 130
    height = max(1, len(items)) * row + 2 * pad
    top = max((abs(b.value) for b in items), default=0.0) or 1.0
    track = width - label_width - value_width
    body = ""
    for i, b in enumerate(items):
        y = pad + i * row
        length = max(1.0, track * abs(b.value) / top) if b.value else 0.0
        body += (
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" font-size="12" '
            f'fill="{INK}" {FONT}>{escape(_clip(b.label, 26))}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{_f(track)}" height="14" fill="#f6f8fa"/>'
            f'<rect x="{label_width}" y="{y + 4}" width="{_f(length)}" height="14" '
            f'fill="{b.color}" rx="2"/>'
            f'<text x="{label_width + track + 8}" y="{y + 15}" font-size="12" fill="{INK}" '
            f"{FONT}>{escape(b.text)}</text>"
        )
    if not items:
        body = f'<text x="{label_width}" y="18" font-size="12" fill="{MUTED}" {FONT}>none</text>'
    return _svg("bars", width, height, title, body)


def gauge(
    value: float,
    limit: float,
    title: str,
    *,
    forecast: float | None = None,
    thresholds: Sequence[float] = (),
    width: int = 640,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
) -> str:
    """Spend against a limit: the filled part is spent, the pale part up to the forecast,
    ticks at each threshold, a dark line at the limit."""
    height, bar_y, bar_h = 50, 16, 16
    scale = max(limit * 1.1, value, forecast or 0.0) * 1.02 or 1.0

    def x(v: float) -> float:
        return width * max(0.0, v) / scale

    ratio = value / limit if limit else 0.0
    first = min(thresholds) if thresholds else 1.0
    color = RED if ratio >= 1 else ORANGE if ratio >= first else GREEN
    body = f'<rect x="0" y="{bar_y}" width="{width}" height="{bar_h}" fill="#f6f8fa" rx="3"/>'
    if forecast is not None and forecast > value:
        body += (
            f'<rect x="{_f(x(value))}" y="{bar_y}" width="{_f(x(forecast) - x(value))}" '
            f'height="{bar_h}" fill="{color}" fill-opacity="0.25"/>'
            f'<line x1="{_f(x(forecast))}" y1="{bar_y - 3}" x2="{_f(x(forecast))}" '
            f'y2="{bar_y + bar_h + 3}" stroke="{color}" stroke-dasharray="2 2"/>'
        )
    body += (
        f'<rect x="0" y="{bar_y}" width="{_f(x(value))}" height="{bar_h}" fill="{color}" rx="3"/>'
    )
    for t in thresholds:
        if t != 1:
            tx = _f(x(t * limit))
            body += (
                f'<line x1="{tx}" y1="{bar_y - 4}" x2="{tx}" y2="{bar_y + bar_h}" '
                f'stroke="{MUTED}"/><text x="{tx}" y="{bar_y - 6}" font-size="10" '
                f'text-anchor="middle" fill="{MUTED}" {FONT}>{t * 100:g}%</text>'
            )
    lx = _f(x(limit))
    body += (
        f'<line x1="{lx}" y1="{bar_y - 4}" x2="{lx}" y2="{bar_y + bar_h + 4}" stroke="{INK}" '
        f'stroke-width="2"/><text x="{lx}" y="{bar_y - 6}" font-size="10" text-anchor="middle" '
        f'fill="{INK}" {FONT}>limit</text>'
        f'<text x="0" y="{height - 4}" font-size="11" fill="{INK}" {FONT}>'
        f"spent {escape(fmt(value))} ({ratio * 100:.0f}%)</text>"
    )
    if forecast is not None:
        body += (
            f'<text x="{width}" y="{height - 4}" font-size="11" text-anchor="end" '
            f'fill="{MUTED}" {FONT}>forecast {escape(fmt(forecast))}</text>'
        )
    return _svg("gauge", width, height, title, body)


def budget_left(remaining: float | None, title: str, width: int = 160) -> str:
    """Error budget left, 0–100%, red once overspent."""
    height = 16
    if remaining is None:
        track = f'<rect x="0.5" y="2.5" width="{width - 1}" height="11" fill="none" '
        track += f'stroke="{GREY}" stroke-dasharray="3 3" rx="2"/>'
        return _svg("budget", width, height, f"{title}: not computable", track)
    fill = max(0.0, min(1.0, remaining))
    color = RED if remaining <= 0 else ORANGE if remaining < 0.25 else GREEN
    body = (
        f'<rect x="0" y="2" width="{width}" height="12" fill="#f6f8fa" rx="2"/>'
        f'<rect x="0" y="2" width="{_f(width * fill)}" height="12" fill="{color}" rx="2"/>'
    )
    if remaining <= 0:
        body += f'<rect x="0" y="2" width="{width}" height="12" fill="none" stroke="{RED}"/>'
    return _svg("budget", width, height, title, body)
