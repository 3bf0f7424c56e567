"""Links from a figure to its Grafana panel and to its PromQL in Prometheus' own UI.

Panel ids are looked up in the dashboards generated from the same config, by dashboard
name and panel title, so a report links to exactly the panels `opslens generate` wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from agent.config import Config
from agent.generate.grafana import dashboards

from .model import QueryLink
from .period import Period
from .queries import Query

PanelIndex = Mapping[tuple[str, str], tuple[str, int]]


def _walk(panels: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk(panel.get("panels", []))  # collapsed rows nest their panels


def panel_index(config: Config) -> PanelIndex:
    """Map (dashboard name, panel title) to (uid, panel id) in the config's dashboards."""
    index: dict[tuple[str, str], tuple[str, int]] = {}
    for name, board in dashboards(config).items():
        for panel in _walk(board.get("panels", [])):
            if panel.get("type") != "row":
                index.setdefault((name, panel["title"]), (board["uid"], int(panel["id"])))
    return index


def grafana_url(base: str, uid: str, panel_id: int, period: Period) -> str:
    query = urlencode(
        {
            "viewPanel": panel_id,
            "from": int(period.start.timestamp() * 1000),
            "to": int(period.end.timestamp() * 1000),
        }
    )
    return f"{base.rstrip('/')}/d/{uid}/?{query}"


def prometheus_url(base: str, query: Query) -> str:
    params: dict[str, str] = {"g0.expr": query.expr}
    moment = datetime.fromtimestamp(query.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    if query.is_range:
        assert query.start is not None
        params |= {"g0.tab": "0", "g0.range_input": f"{int(query.at - query.start) + 86400}s"}
        params["g0.end_input"] = moment
    else:
        params |= {"g0.tab": "1", "g0.moment_input": moment}
    return f"{base.rstrip('/')}/graph?{urlencode(params)}"


def query_links(
    queries: Iterable[Query],
    index: PanelIndex,
    period: Period,
    grafana: str,
    prometheus: str,
) -> tuple[QueryLink, ...]:
    """One link bundle per query; panels of dashboards the config leaves out are skipped."""
    out = []
    for q in queries:
        panels = tuple(
            (p.title, grafana_url(grafana, *index[(p.dashboard, p.title)], period))
            for p in q.panels
            if (p.dashboard, p.title) in index
        )
        out.append(QueryLink(q.key, q.title, q.expr, prometheus_url(prometheus, q), panels))
    return tuple(out)
