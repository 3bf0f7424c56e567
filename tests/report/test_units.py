"""The report's pure parts on plain data: periods, schedules, episodes, charts, rendering."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.config import load, parse
from agent.config.reports import ScheduledReport, When
from agent.generate.grafana import features
from agent.report import charts
from agent.report.build import _percentile, build_report, episodes
from agent.report.links import panel_index, prometheus_url, query_links
from agent.report.model import Report, Section
from agent.report.period import resolve
from agent.report.prometheus import QueryError, Series, parse_result
from agent.report.queries import Query, digest_plan, review_plan
from agent.report.render import ReportRenderer
from agent.report.scheduler import (
    ReportScheduler,
    SentStore,
    latest_occurrence,
    next_occurrence,
)
from tests.report import history

ROOT = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")


def ts(text: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


# --- periods ------------------------------------------------------------------------------


def test_seven_days_and_the_week_before() -> None:
    p = resolve("7d", ts("2026-03-20 09:00"), BERLIN)
    assert (p.start.isoformat(), p.end.isoformat()) == (
        "2026-03-13T09:00:00+01:00",
        "2026-03-20T09:00:00+01:00",
    )
    assert p.previous_end == p.start and p.days == 7 and p.range == "604800s"
    assert (
        p.dora_window == "7d"
        and resolve("30d", ts("2026-03-20 09:00"), BERLIN).dora_window == "30d"
    )


def test_a_week_across_the_spring_dst_change_is_an_hour_short() -> None:
    # Berlin moved its clocks forward on 29 March 2026: the local week has 167 hours.
    p = resolve("7d", ts("2026-04-01 09:00"), BERLIN)
    assert p.seconds == 167 * 3600 and p.start.hour == 9


def test_month_to_date_compares_with_the_same_days_of_last_month() -> None:
    p = resolve("month", ts("2026-03-10 12:00"), BERLIN)
    assert p.start.isoformat() == "2026-03-01T00:00:00+01:00"
    assert p.previous_start.isoformat() == "2026-02-01T00:00:00+01:00"
    assert p.previous_end.isoformat() == "2026-02-10T12:00:00+01:00"
    assert p.days == 9 and p.title == "March 2026 to date"


def test_previous_month_across_the_new_year() -> None:
    p = resolve("previous-month", ts("2026-01-01 09:00"), BERLIN)
    assert (p.start.isoformat(), p.end.isoformat()) == (
        "2025-12-01T00:00:00+01:00",
        "2026-01-01T00:00:00+01:00",
    )
    assert p.previous_start.isoformat() == "2025-11-01T00:00:00+01:00"
    assert p.days == 31 and p.previous_days == 30 and p.title == "December 2025"


def test_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown period 'week'"):
        resolve("week", 0, BERLIN)


# --- schedules ----------------------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("when", "now", "latest", "upcoming"),
    [
        (When("daily", 8, 0), "2026-03-20 07:59", "2026-03-19 08:00", "2026-03-20 08:00"),
        (When("daily", 8, 0), "2026-03-20 08:00", "2026-03-20 08:00", "2026-03-21 08:00"),
        # Friday 20 March 2026 at 09:00, seen from the Friday, the Saturday and the Thursday.
        (
            When("weekly", 9, 0, weekday=4),
            "2026-03-20 09:30",
            "2026-03-20 09:00",
            "2026-03-27 09:00",
        ),
        (
            When("weekly", 9, 0, weekday=4),
            "2026-03-21 00:00",
            "2026-03-20 09:00",
            "2026-03-27 09:00",
        ),
        (
            When("weekly", 9, 0, weekday=4),
            "2026-03-19 23:00",
            "2026-03-13 09:00",
            "2026-03-20 09:00",
        ),
        (When("monthly", 9, 0, day=1), "2026-01-01 08:59", "2025-12-01 09:00", "2026-01-01 09:00"),
        (When("monthly", 9, 0, day=28), "2026-03-01 10:00", "2026-02-28 09:00", "2026-03-28 09:00"),
        # Across the DST change the wall-clock time holds: 09:00 before and after.
        (
            When("weekly", 9, 0, weekday=4),
            "2026-04-02 12:00",
            "2026-03-27 09:00",
            "2026-04-03 09:00",
        ),
    ],
)
def test_occurrences(when: When, now: str, latest: str, upcoming: str) -> None:
    assert latest_occurrence(when, BERLIN, at(now)) == at(latest)
    assert next_occurrence(when, BERLIN, at(now)) == at(upcoming)
    assert at(upcoming).utcoffset() == next_occurrence(when, BERLIN, at(now)).utcoffset()


def test_schedule_text_forms_are_the_same() -> None:
    base = "version: 1\nproject: acme\nreports:\n  scheduled:\n"
    entry = "    - {{name: r, recipients: [a@example.com], schedule: {}}}\n"
    quoted = parse(base + entry.format('"weekly: friday 09:00"'))
    mapping = parse(base + entry.format("{weekly: friday 09:00}"))
    assert quoted.reports.scheduled[0].schedule.when() == When("weekly", 9, 0, weekday=4)
    assert quoted == mapping


def _empty_report(kind: str = "review", missing: bool = False) -> Report:
    period = resolve("7d", 0, ZoneInfo("UTC"))
    section = Section("alerts", "Alerts", None, "down") if missing else None
    return Report(kind, "acme", "t", period, period.end, (section,) if section else ())


class _Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _scheduler(
    tmp_path: Path, clock: _Clock, fail: list[bool] | None = None, missing: bool = False
):
    config = parse(history.config_text())
    made: list[tuple[str, float]] = []
    sent: list[str] = []

    async def make(report: ScheduledReport, now: float) -> Report:
        made.append((report.name, now))
        return _empty_report(report.kind, missing)

    async def send(report: ScheduledReport, _: Report) -> None:
        if fail and fail.pop(0):
            raise ConnectionRefusedError("smtp down")
        sent.append(report.name)

    store = SentStore(tmp_path / "sent.json")
    return ReportScheduler(config, store, make, send, clock), made, sent


FRIDAY_9 = ts("2026-03-20 09:00", ZoneInfo("UTC"))


def test_scheduler_sends_each_occurrence_once_and_as_of_its_time(tmp_path: Path) -> None:
    clock = _Clock(FRIDAY_9 + 120)
    scheduler, made, _ = _scheduler(tmp_path, clock)
    assert asyncio.run(scheduler.run_once()) == ["weekly-review", "low-alerts"]
    assert made[0] == ("weekly-review", FRIDAY_9)  # the period ends at 09:00, not 09:02
    assert asyncio.run(scheduler.run_once()) == []
    # A new scheduler on the same store (a restart) sends nothing either.
    again, _, sent_again = _scheduler(tmp_path, clock)
    assert asyncio.run(again.run_once()) == [] and sent_again == []
    state = json.loads((tmp_path / "sent.json").read_text())
    assert state["weekly-review"]["occurrence"] == FRIDAY_9


def test_scheduler_retries_a_failed_send_and_skips_stale_occurrences(tmp_path: Path) -> None:
    clock = _Clock(FRIDAY_9 + 60)
    scheduler, _, _ = _scheduler(tmp_path, clock, fail=[True, False, False])
    assert asyncio.run(scheduler.run_once()) == ["low-alerts"]  # the review's send failed
    clock.now += 60
    assert asyncio.run(scheduler.run_once()) == ["weekly-review"]
    # Down from Friday to Sunday: Friday's review is not sent two days late.
    late, _, _ = _scheduler(tmp_path / "other", _Clock(FRIDAY_9 + 2 * 86400))
    assert "weekly-review" not in asyncio.run(late.run_once())


def test_scheduler_waits_for_missing_sections_then_sends_marked_incomplete(tmp_path: Path) -> None:
    clock = _Clock(FRIDAY_9 + 60)
    scheduler, made, _ = _scheduler(tmp_path, clock, missing=True)
    # The 08:00 digest has waited an hour: it goes out as it is; the review waits.
    assert asyncio.run(scheduler.run_once()) == ["low-alerts"]
    clock.now = FRIDAY_9 + 2 * 3600
    assert asyncio.run(scheduler.run_once()) == ["weekly-review"]
    assert [name for name, _ in made] == ["weekly-review", "low-alerts", "weekly-review"]


def test_scheduler_sleeps_until_the_next_occurrence_at_most_a_minute(tmp_path: Path) -> None:
    scheduler, _, _ = _scheduler(tmp_path, _Clock(ts("2026-03-20 07:59:30", ZoneInfo("UTC"))))
    assert scheduler.seconds_to_next() == 30.0  # the digest at 08:00
    scheduler, _, _ = _scheduler(tmp_path, _Clock(FRIDAY_9))
    assert scheduler.seconds_to_next() == 60.0


def test_damaged_sent_log_counts_as_never_sent(tmp_path: Path) -> None:
    (tmp_path / "sent.json").write_text("{not json")
    store = SentStore(tmp_path / "sent.json")
    assert store.last("weekly-review") is None
    store.record("weekly-review", 1.0, 2.0)
    assert store.last("weekly-review") == 1.0


# --- Prometheus answers and alert episodes ------------------------------------------------


def test_parse_vector_drops_nan_and_matrix_keeps_points() -> None:
    vector = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"a": "1"}, "value": [1, "2.5"]},
                {"metric": {"a": "2"}, "value": [1, "NaN"]},
            ],
        },
    }
    assert [(s.labels, s.value) for s in parse_result(vector)] == [({"a": "1"}, 2.5)]  # type: ignore[union-attr]
    matrix = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {}, "values": [[1, "1"], [2, "3"]]}],
        },
    }
    assert parse_result(matrix) == [Series({}, ((1.0, 1.0), (2.0, 3.0)))]
    with pytest.raises(QueryError, match="bad_data: parse error"):
        parse_result({"status": "error", "errorType": "bad_data", "error": "parse error"})


def test_episodes_split_at_gaps_and_the_last_one_may_still_fire() -> None:
    labels = {"__name__": "ALERTS", "alertname": "A", "alertstate": "firing", "severity": "low"}
    points = tuple((float(t), 1.0) for t in [0, 60, 120, 600, 660, 1000])
    found = episodes([Series(labels, points)], gap=180, end=1060)
    assert [(e.start, e.end, e.resolved) for e in found] == [
        (0, 120, True),
        (600, 660, True),
        (1000, 1000, False),
    ]
    assert found[0].labels == (("alertname", "A"), ("severity", "low"))


def test_nearest_rank_percentiles() -> None:
    assert _percentile([], 0.5) is None
    assert _percentile([5.0], 0.9) == 5.0
    assert _percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert _percentile([float(i) for i in range(1, 11)], 0.9) == 9.0


# --- links --------------------------------------------------------------------------------


# Panels generated only with a feature (docs/dashboards.md): the report links to them then.
GATED = {("application", "Certificate expires in"): features.https_probe}


@pytest.mark.parametrize("config_file", ["opslens.yaml", "agent/demo/demo.yaml"])
def test_every_panel_a_query_names_exists_in_the_generated_dashboards(config_file: str) -> None:
    text = (ROOT / config_file).read_text().replace("{{data_dir}}", "/tmp").replace("{{repo}}", ".")
    config = parse(text, config_file)
    period = resolve("7d", 1.8e9, ZoneInfo("UTC"))
    index = panel_index(config)
    for plan in (review_plan(config, period), digest_plan(config, period)):
        for query in plan.queries():
            for panel in query.panels:
                gate = GATED.get((panel.dashboard, panel.title))
                generated = features.has_dashboard(config, panel.dashboard)
                if generated and (gate is None or gate(config)):
                    assert (panel.dashboard, panel.title) in index, (query.key, panel)


def test_links_carry_the_panel_id_time_range_and_promql() -> None:
    config = load(ROOT / "opslens.yaml")
    period = resolve("7d", 1_800_000_000, ZoneInfo("UTC"))
    plan = review_plan(config, period)
    links = {
        q.key: q
        for q in query_links(plan.queries(), panel_index(config), period, "https://g", "http://p")
    }
    mtd = links["cost.month_to_date"]
    assert mtd.panels == (
        (
            "Month to date",
            "https://g/d/opslens-cost/?viewPanel=3&from=1799395200000&to=1800000000000",
        ),
    )
    assert mtd.prometheus_url.startswith("http://p/graph?g0.expr=sum+by+%28provider")
    instant = Query("k", "t", "up", 60.0)
    assert "g0.moment_input=1970-01-01+00%3A01%3A00" in prometheus_url("http://p", instant)


# --- charts and rendering -----------------------------------------------------------------


def test_charts_are_well_formed_svg_with_a_title() -> None:
    drawn = [
        charts.sparkline([1.0, None, 3.0, 2.0], "s"),
        charts.sparkline([], "empty"),
        charts.bars([charts.Bar("<b>&", 3.0, "3")], "b"),
        charts.gauge(80.0, 100.0, "g", forecast=120.0, thresholds=(0.8, 1.0)),
        charts.budget_left(-0.5, "left"),
        charts.budget_left(None, "none"),
    ]
    for svg in drawn:
        root = ET.fromstring(svg)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.find("{http://www.w3.org/2000/svg}title") is not None
        assert "script" not in svg.lower() and "href" not in svg
    # The gap splits the line in two: a lone point, then a line.
    assert drawn[0].count("<polyline") == 1 and drawn[0].count("<circle") == 2
    assert "&lt;b&gt;&amp;" in drawn[2]


def test_rendering_escapes_label_values_and_stays_script_free() -> None:
    config = load(ROOT / "opslens.yaml")
    period = resolve("7d", 1_800_000_000, ZoneInfo("UTC"))
    plan = digest_plan(config, period)
    evil = {"alertname": '<script>alert("x")</script>', "severity": "low", "alertstate": "firing"}
    end = period.end.timestamp()
    results = {"alerts.firing": [Series(evil, ((end - 120, 1.0), (end - 60, 1.0)))]}
    report = build_report(config, "daily_digest", period, plan, results, (), period.end, "http://p")  # type: ignore[arg-type]
    renderer = ReportRenderer()
    page = renderer.html(report)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "still firing" in page
    text = renderer.text(report)
    assert '<script>alert("x")</script>' in text  # plain text is not HTML: shown as it is


def test_a_failed_query_marks_its_section_missing_in_every_format() -> None:
    config = load(ROOT / "opslens.yaml")
    period = resolve("7d", 1_800_000_000, ZoneInfo("UTC"))
    plan = digest_plan(config, period)
    results = {"alerts.firing": QueryError("cannot reach Prometheus at http://p: refused")}
    report = build_report(config, "daily_digest", period, plan, results, (), period.end, "http://p")  # type: ignore[arg-type]
    assert [s.name for s in report.missing] == ["alerts"]
    renderer = ReportRenderer()
    for form in ("html", "md", "txt"):
        out = renderer.render(report, form)
        assert "cannot reach Prometheus at http://p: refused (alerts.firing)" in out, form


def test_months_resolve_in_the_report_zone() -> None:
    # 23:30 UTC on 31 January is already February in Berlin.
    now = datetime(2026, 1, 31, 23, 30, tzinfo=UTC).timestamp()
    assert resolve("month", now, BERLIN).start.month == 2
    assert resolve("month", now, ZoneInfo("UTC")).start.month == 1
    assert resolve("month", now, BERLIN).end - resolve("month", now, BERLIN).start < timedelta(
        hours=1
    )


def test_without_a_previous_period_nothing_is_called_a_mover() -> None:
    """A Prometheus younger than the period: no service is "new", no change is claimed."""
    config = load(ROOT / "opslens.yaml")
    period = resolve("7d", 1_800_000_000, ZoneInfo("UTC"))
    plan = review_plan(config, period)
    results: dict[str, object] = {q.key: [] for q in plan.queries()}
    end = period.end.timestamp()
    labels = {"service": "AmazonEC2", "currency": "USD"}
    results["cost.daily"] = [Series(labels, ((end, 100.0),))]
    report = build_report(config, "review", period, plan, results, (), period.end, "")  # type: ignore[arg-type]
    cost = report.sections[0].body
    assert cost is not None and cost.top[0].spend == 100.0  # type: ignore[union-attr]
    assert (cost.compared, cost.movers, cost.days_with_data) == (False, (), 1)  # type: ignore[union-attr]
    text = ReportRenderer().text(report)
    assert "no cost data for the previous period" in text and "+100" not in text
