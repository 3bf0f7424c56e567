"""Make one report: plan its queries, run them against Prometheus, build the model."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from agent.config import Config

from .build import build_report
from .links import panel_index, query_links
from .model import Report
from .period import resolve
from .prometheus import PrometheusClient
from .queries import digest_plan, review_plan


async def make_report(
    config: Config,
    client: PrometheusClient,
    *,
    kind: str,
    period: str,
    now: float,
    zone: ZoneInfo,
) -> Report:
    """Query Prometheus for a `review` or `daily_digest` over `period` ending at `now`."""
    span = resolve(period, now, zone)
    plan = digest_plan(config, span) if kind == "daily_digest" else review_plan(config, span)
    results = await client.run_all(plan.queries())
    links = query_links(
        plan.queries(),
        panel_index(config),
        span,
        config.reports.grafana_url,
        client.base_url,
    )
    return build_report(
        config,
        kind,
        span,
        plan,
        results,
        links,
        datetime.fromtimestamp(now, zone),
        client.base_url,
    )
