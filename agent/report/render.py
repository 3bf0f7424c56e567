"""Render a report model as HTML, Markdown or plain text: pure, templates under templates/."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from . import charts, fmt
from .model import BudgetStatus, Report, ServiceSpend
from .queries import DORA_KEYS

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = ("html", "md", "txt")
SEVERITY_COLORS = {
    "critical": charts.RED,
    "high": charts.ORANGE,
    "medium": "#9a6700",
    "low": charts.MUTED,
}


def environment() -> jinja2.Environment:
    """Build the templates' environment: autoescape for HTML, strict about undefined names."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


class ReportRenderer:
    """Turn a `Report` into text; the charts are drawn here, in Python, as inline SVG."""

    def __init__(self, env: jinja2.Environment | None = None):
        self._env = env or environment()

    def render(self, report: Report, form: str) -> str:
        name = {"html": "report.html.j2", "md": "report.md.j2", "txt": "report.txt.j2"}[form]
        return self._env.get_template(name).render(report=report, **self._helpers(report))

    def html(self, report: Report) -> str:
        return self.render(report, "html")

    def text(self, report: Report) -> str:
        return self.render(report, "txt")

    def _helpers(self, report: Report) -> dict[str, object]:
        tz = report.period.end.tzinfo

        def local(ts: float) -> str:
            return datetime.fromtimestamp(ts, tz).strftime("%a %d %b %H:%M")

        return {
            "money": fmt.money,
            "signed_money": fmt.signed_money,
            "percent": fmt.percent,
            "signed_percent": fmt.signed_percent,
            "precise_percent": fmt.precise_percent,
            "duration": fmt.duration,
            "number": fmt.number,
            "dora_value": fmt.dora_value,
            "dora_change": fmt.dora_change,
            "dora_better": fmt.dora_better,
            "dora_labels": fmt.DORA_LABELS,
            "dora_keys": DORA_KEYS,
            "local": local,
            "chart_spark": _spark,
            "chart_gauge": _gauge,
            "chart_spend": _spend,
            "chart_budget": lambda remaining, title: Markup(charts.budget_left(remaining, title)),
            "chart_severity": _severity,
            "chart_services": _services,
        }


def _spark(values: Sequence[float | None], title: str, floor: float | None = None) -> Markup:
    return Markup(charts.sparkline(values, title, floor=floor))


def _gauge(b: BudgetStatus) -> Markup:
    return Markup(
        charts.gauge(
            b.spent,
            b.limit,
            f"Budget {b.name}: {fmt.money(b.spent, b.currency)} spent "
            f"of {fmt.money(b.limit, b.currency)}",
            forecast=b.forecast,
            thresholds=b.thresholds,
            fmt=lambda v: fmt.money(v, b.currency),
        )
    )


def _spend(top: Sequence[ServiceSpend]) -> Markup:
    """Draw one bar chart per currency: amounts in different currencies share no scale."""
    out = []
    for currency in dict.fromkeys(s.currency for s in top):
        items = [
            charts.Bar(s.service, s.spend, fmt.money(s.spend, s.currency))
            for s in top
            if s.currency == currency
        ]
        out.append(charts.bars(items, f"Top services by spend in the period, {currency}"))
    return Markup("".join(out))


def _severity(counts: Sequence[tuple[str, int]]) -> Markup:
    items = [charts.Bar(sev, n, str(n), SEVERITY_COLORS.get(sev, charts.BLUE)) for sev, n in counts]
    return Markup(charts.bars(items, "Alerts fired by severity"))


def _services(counts: Sequence[tuple[str, int]]) -> Markup:
    items = [charts.Bar(svc, n, str(n)) for svc, n in counts[:10]]
    return Markup(charts.bars(items, "Alerts fired by service"))
