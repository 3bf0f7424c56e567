"""Number formatting shared by the HTML, Markdown and text renderers."""

from __future__ import annotations

NA = "N/A"


def money(amount: float | None, currency: str = "") -> str:
    if amount is None:
        return NA
    text = f"{amount:,.0f}" if abs(amount) >= 1000 else f"{amount:,.2f}"
    return f"{text} {currency}".strip()


def signed_money(amount: float | None, currency: str = "") -> str:
    if amount is None:
        return NA
    return ("+" if amount > 0 else "−" if amount < 0 else "±") + money(abs(amount), currency)


def percent(ratio: float | None, digits: int = 1) -> str:
    if ratio is None:
        return NA
    return f"{ratio * 100:.{digits}f}%"


def signed_percent(ratio: float) -> str:
    """Format a relative change: `+50%`, `−0.3%` (small changes keep a decimal, never `-0%`)."""
    value = ratio * 100
    text = f"{abs(value):.1f}" if abs(value) < 10 else f"{abs(value):.0f}"
    return ("+" if value > 0 else "−" if value < 0 else "±") + text + "%"


def precise_percent(ratio: float | None) -> str:
    """Format attainment so that 99.95% never rounds to 100%."""
    if ratio is None:
        return NA
    value = ratio * 100
    for digits in (1, 2, 3, 4):
        text = f"{value:.{digits}f}"
        if float(text) != 100 or value == 100:
            return text + "%"
    return f"{value:.4f}%"


def duration(seconds: float | None) -> str:
    """Say seconds as people do: `45s`, `12m`, `3h 20m`, `2.5d`."""
    if seconds is None:
        return NA
    s = abs(seconds)
    if s < 60:
        text = f"{s:.0f}s"
    elif s < 3600:
        text = f"{s / 60:.0f}m"
    elif s < 86400:
        hours, minutes = divmod(round(s / 60), 60)
        text = f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    else:
        text = f"{s / 86400:.1f}d"
    return ("−" if seconds < 0 else "") + text


def number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return NA
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}"


def dora_value(key: str, value: float | None) -> str:
    """Format a DORA key in its natural unit."""
    if value is None:
        return NA
    if key == "deployment_frequency":
        return f"{number(value)}/day"
    if key in ("lead_time", "time_to_restore"):
        return duration(value)
    return percent(value)


def dora_change(key: str, value: float | None, previous: float | None) -> str:
    """Format the change against the previous period; N/A when either end is missing."""
    if value is None or previous is None:
        return NA
    delta = value - previous
    if delta == 0:
        return "no change"
    sign = "+" if delta > 0 else "−"
    if key == "deployment_frequency":
        return f"{sign}{number(abs(delta))}/day"
    if key in ("lead_time", "time_to_restore"):
        return sign + duration(abs(delta))
    return f"{sign}{abs(delta) * 100:.1f} pts"


# Higher is better only for deployment frequency; for the other keys lower is better.
def dora_better(key: str, value: float | None, previous: float | None) -> bool | None:
    if value is None or previous is None or value == previous:
        return None
    return value > previous if key == "deployment_frequency" else value < previous


DORA_LABELS = {
    "deployment_frequency": "Deployment frequency",
    "lead_time": "Lead time",
    "change_failure_ratio": "Change failure ratio",
    "time_to_restore": "Time to restore",
    "rework": "Rework ratio",
}
