"""Panel, variable and layout helpers over grafana-foundation-sdk shared by every dashboard."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import bargauge as sdk_bargauge
from grafana_foundation_sdk.builders import common as sdk_common
from grafana_foundation_sdk.builders import dashboard as sdk_dashboard
from grafana_foundation_sdk.builders import prometheus as sdk_prometheus
from grafana_foundation_sdk.builders import stat as sdk_stat
from grafana_foundation_sdk.builders import statetimeline as sdk_statetimeline
from grafana_foundation_sdk.builders import table as sdk_table
from grafana_foundation_sdk.builders import timeseries as sdk_timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from ..artefact import HEADER
from ..naming import AGENT_JOB, DATASOURCE_UID, dashboard_uid
from .provisioning import DATASOURCE_NAME

# Panels point at the variable, so the same JSON works with another Prometheus datasource
# (kube-prometheus-stack's, say); the variable defaults to the provisioned one.
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAG = "opslens"

Panel = Builder[dm.Panel]
_P = TypeVar(
    "_P",
    sdk_stat.Panel,
    sdk_timeseries.Panel,
    sdk_bargauge.Panel,
    sdk_table.Panel,
    sdk_statetimeline.Panel,
)
Rows = Sequence[tuple[str, Sequence[Panel]]]
Variable = Builder[dm.VariableModel]
Steps = Sequence[tuple[float | None, str]]
Mapping = dict[int, tuple[str, str]]


# A counter the agent has not created a series for has counted nothing: 0, but only
# while the agent is scraped and up; otherwise the honest answer is "No data"
# (docs/dashboards.md#0-or-no-data).
AGENT_UP = f'max(up{{job="{AGENT_JOB}"}} == 1)'


def or_zero(expr: str, **labels: str) -> str:
    """`expr`, or one 0 sample (carrying `labels`) while it has no series and the agent is up."""
    zero = f"0 * {AGENT_UP}"
    for name, value in labels.items():
        zero = f'label_replace({zero}, "{name}", "{value}", "", "")'
    return f"({expr}) or on () {zero}"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


# Value mappings used on several dashboards.
LEVELS: Mapping = {
    3: ("Elite", "green"),
    2: ("High", "blue"),
    1: ("Medium", "orange"),
    0: ("Low", "red"),
}
UP: Mapping = {1: ("Up", "green"), 0: ("Down", "red")}


def steps(*points: tuple[float | None, str]) -> sdk_dashboard.ThresholdsConfig:
    """Build absolute thresholds; the first step's value is None (−∞)."""
    return (
        sdk_dashboard.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in points])
    )


def mappings(mapping: Mapping) -> list[dm.ValueMapping]:
    options = {
        str(value): dm.ValueMappingResult(text=text, color=color, index=i)
        for i, (value, (text, color)) in enumerate(mapping.items())
    }
    return [dm.ValueMap(options=options)]


def _setup(
    panel: _P,
    title: str,
    queries: Sequence[Query],
    *,
    unit: str,
    w: int,
    h: int,
    description: str,
    instant: bool,
    table: bool = False,
) -> _P:
    panel.title(title).datasource(DATASOURCE).unit(unit).span(w).height(h)
    if description:
        panel.description(description)
    for i, q in enumerate(queries):
        target = (
            sdk_prometheus.Dataquery()
            .expr(q.expr)
            .ref_id(chr(ord("A") + i))
            .datasource(DATASOURCE)
            .legend_format(q.legend or "__auto")
        )
        target = target.instant() if instant else target.range()
        if table:
            target.format(PromQueryFormat.TABLE)
        panel.with_target(target)
    return panel


def stat(
    title: str,
    *queries: Query,
    unit: str = "short",
    w: int = 4,
    h: int = 4,
    description: str = "",
    thresholds: Steps = ((None, "green"),),
    mapping: Mapping | None = None,
    decimals: int | None = None,
    names: bool = False,
    no_value: str = "",
) -> sdk_stat.Panel:
    """Show a big number per series of an instant query, coloured by thresholds."""
    panel = _setup(
        sdk_stat.Panel(),
        title,
        queries,
        unit=unit,
        w=w,
        h=h,
        description=description,
        instant=True,
    )
    panel.thresholds(steps(*thresholds)).color_mode(cm.BigValueColorMode.BACKGROUND)
    # `names` shows the legend instead of the value: for info metrics like build versions.
    text = cm.BigValueTextMode.NAME if names else cm.BigValueTextMode.AUTO
    panel.graph_mode(cm.BigValueGraphMode.NONE).text_mode(text)
    panel.reduce_options(sdk_common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    if mapping:
        panel.mappings(mappings(mapping))
    if decimals is not None:
        panel.decimals(decimals)
    if no_value:
        # Where no series is the good state (a gauge present only while failing).
        panel.no_value(no_value)
    return panel


def timeseries(
    title: str,
    *queries: Query,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    description: str = "",
    bars: bool = False,
    stacked: bool = False,
    thresholds: Steps | None = None,
    min_interval: str | None = None,
) -> sdk_timeseries.Panel:
    """Plot lines (or bars) over time with a table legend."""
    panel = _setup(
        sdk_timeseries.Panel(),
        title,
        queries,
        unit=unit,
        w=w,
        h=h,
        description=description,
        instant=False,
    )
    panel.fill_opacity(10).line_width(1)
    panel.legend(
        sdk_common.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.TABLE)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )
    panel.tooltip(
        sdk_common.VizTooltipOptions()
        .mode(cm.TooltipDisplayMode.MULTI)
        .sort(cm.SortOrder.DESCENDING)
    )
    if bars:
        panel.draw_style(cm.GraphDrawStyle.BARS).fill_opacity(80)
    if stacked:
        panel.stacking(sdk_common.StackingConfig().mode(cm.StackingMode.NORMAL))
    if thresholds:
        panel.thresholds(steps(*thresholds)).thresholds_style(
            sdk_common.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        )
    if min_interval:
        panel.interval(min_interval)
    return panel


def bargauge(
    title: str,
    *queries: Query,
    unit: str = "short",
    w: int = 8,
    h: int = 8,
    description: str = "",
    thresholds: Steps = ((None, "green"),),
    max_value: float | None = None,
) -> sdk_bargauge.Panel:
    """Draw a horizontal bar per series of an instant query."""
    panel = _setup(
        sdk_bargauge.Panel(),
        title,
        queries,
        unit=unit,
        w=w,
        h=h,
        description=description,
        instant=True,
    )
    panel.thresholds(steps(*thresholds)).min(0)
    panel.display_mode(cm.BarGaugeDisplayMode.GRADIENT).orientation(cm.VizOrientation.HORIZONTAL)
    panel.reduce_options(sdk_common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    if max_value is not None:
        panel.max(max_value)
    return panel


def table(
    title: str,
    *queries: Query,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    description: str = "",
    hide: Sequence[str] = ("Time", "__name__"),
    rename: dict[str, str] | None = None,
    mapping: Mapping | None = None,
) -> sdk_table.Panel:
    """Tabulate instant query results as rows of labels and values."""
    panel = _setup(
        sdk_table.Panel(),
        title,
        queries,
        unit=unit,
        w=w,
        h=h,
        description=description,
        instant=True,
        table=True,
    )
    if len(queries) > 1:
        # One row per label set, one column per query.
        panel.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
    panel.with_transformation(
        dm.DataTransformerConfig(
            id_val="organize",
            options={"excludeByName": dict.fromkeys(hide, True), "renameByName": rename or {}},
        )
    )
    if mapping:
        panel.mappings(mappings(mapping))
    return panel


def timeline(
    title: str,
    *queries: Query,
    mapping: Mapping,
    w: int = 12,
    h: int = 8,
    description: str = "",
) -> sdk_statetimeline.Panel:
    """Show discrete states over time (up/down, breaker state, level)."""
    panel = _setup(
        sdk_statetimeline.Panel(),
        title,
        queries,
        unit="none",
        w=w,
        h=h,
        description=description,
        instant=False,
    )
    panel.mappings(mappings(mapping)).show_value(cm.VisibilityMode.NEVER).merge_values(True)
    return panel


def label_variable(
    name: str, metric: str, label: str = "", *, multi: bool = True
) -> sdk_dashboard.QueryVariable:
    """List the values of label `name` on `metric` (a selector), with All."""
    return (
        sdk_dashboard.QueryVariable(name)
        .label(label or name.replace("_", " ").capitalize())
        .datasource(DATASOURCE)
        .query(f"label_values({metric}, {name})")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(True)
        # ".*" also matches series without the label (probes without a service, say).
        .all_value(".*")
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )


def custom_variable(name: str, values: Sequence[str], default: str) -> sdk_dashboard.CustomVariable:
    options = [dm.VariableOption(selected=v == default, text=v, value=v) for v in values]
    return (
        sdk_dashboard.CustomVariable(name)
        .label(name.replace("_", " ").capitalize())
        .values(",".join(values))
        .current(dm.VariableOption(selected=True, text=default, value=default))
        .options(options)
    )


def _datasource_variable() -> sdk_dashboard.DatasourceVariable:
    return (
        sdk_dashboard.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(dm.VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID))
    )


def assemble(
    name: str,
    title: str,
    summary: str,
    rows: Rows,
    variables: Sequence[Variable] = (),
    time_from: str = "now-24h",
) -> dict[str, Any]:
    """Lay rows out on the grid and return the dashboard as plain JSON data.

    Panel ids follow the order of rows and panels, so the same config always yields the
    same ids and links to a panel survive regeneration.
    """
    board = (
        sdk_dashboard.Dashboard(title)
        .uid(dashboard_uid(name))
        .description(f"{summary} ({HEADER})")
        .tags([TAG, name])
        .timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .time(time_from, "now")
        .refresh("1m")
        .readonly()
        .link(
            sdk_dashboard.DashboardLink("OpsLens")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .keep_time(True)
            .include_vars(False)
        )
        .with_variable(_datasource_variable())
    )
    for variable in variables:
        board.with_variable(variable)
    for row_title, panels in rows:
        board.with_row(sdk_dashboard.Row(row_title))
        for panel in panels:
            board.with_panel(panel)
    model = board.build()
    for number, built in enumerate(model.panels or [], start=1):
        built.id_val = number
    data: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return data
