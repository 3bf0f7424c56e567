"""The report's numbers against a real Prometheus loaded with a known fortnight."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agent.report.model import (
    AlertsSection,
    CostSection,
    DeliverySection,
    ReliabilitySection,
    Report,
)
from tests.report import history
from tests.report.conftest import History, make

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _body(report: Report, name: str) -> object:
    section = next(s for s in report.sections if s.name == name)
    assert section.body is not None, section.error
    return section.body


def test_every_section_is_present(weekly: Report) -> None:
    assert [s.name for s in weekly.sections] == ["cost", "delivery", "reliability", "alerts"]
    assert weekly.missing == ()


def test_cost_month_to_date_and_forecast_per_provider_and_currency(weekly: Report) -> None:
    cost = _body(weekly, "cost")
    assert isinstance(cost, CostSection)
    got = {(t.provider, t.currency): (t.month_to_date, t.forecast) for t in cost.totals}
    want = {k: (v, history.FORECAST[k]) for k, v in history.MONTH_TO_DATE.items()}
    assert got == want


def test_cost_budgets_show_the_threshold_crossed(weekly: Report) -> None:
    cost = _body(weekly, "cost")
    assert isinstance(cost, CostSection)
    budgets = {b.name: b for b in cost.budgets}
    assert set(budgets) == set(history.BUDGETS)
    for name, (period, currency, limit, spent, forecast) in history.BUDGETS.items():
        b = budgets[name]
        assert (b.period, b.currency, b.limit, b.spent, b.forecast) == (
            period,
            currency,
            limit,
            spent,
            forecast,
        )
    # 84% of total-monthly crosses 0.8; its forecast (110%) crosses 1.0.
    assert (budgets["total-monthly"].crossed, budgets["total-monthly"].forecast_crossed) == (
        0.8,
        1.0,
    )
    assert (budgets["payments-monthly"].crossed, budgets["payments-monthly"].forecast_crossed) == (
        None,
        0.8,
    )
    assert budgets["daily-guardrail"].crossed == 1.0
    # Ordered by how much of the budget is used.
    assert [b.name for b in cost.budgets] == [
        "daily-guardrail",
        "total-monthly",
        "payments-monthly",
    ]


def test_cost_top_services_sum_the_daily_figures_of_the_period(weekly: Report) -> None:
    cost = _body(weekly, "cost")
    assert isinstance(cost, CostSection)
    top = {s.service: s for s in cost.top}
    for service in ("AmazonEC2", "AmazonRDS", "AmazonS3", "AWSDataTransfer", "BigQuery"):
        assert top[service].spend == pytest.approx(history.spend(service)), service
        assert top[service].previous == pytest.approx(history.spend(service, previous=True))
    # New this period: no previous spend at all, not a previous spend of zero.
    assert top["AmazonCloudWatch"].previous is None
    assert "AWSLambda" not in top  # spent only in the previous period
    assert [s.service for s in cost.top if s.currency == "USD"][:2] == ["AmazonEC2", "AmazonRDS"]
    assert cost.days == cost.days_with_data == 7
    # One daily figure per day, oldest first: the data transfer spike was two days ago.
    transfer = top["AWSDataTransfer"].daily
    assert transfer == (40.0, 40.0, 40.0, 40.0, 240.0, 40.0, 40.0)


def test_cost_movers_against_the_previous_period(weekly: Report) -> None:
    cost = _body(weekly, "cost")
    assert isinstance(cost, CostSection)
    usd = [(m.service, m.change) for m in cost.movers if m.currency == "USD"]
    assert usd == [
        ("AmazonRDS", pytest.approx(420.0)),
        ("AWSLambda", pytest.approx(-210.0)),
        ("AWSDataTransfer", pytest.approx(200.0)),
        ("AmazonCloudWatch", pytest.approx(157.5)),
        ("AmazonEC2", pytest.approx(-10.0)),
    ]
    eur = [(m.service, m.change) for m in cost.movers if m.currency == "EUR"]
    assert eur == [("BigQuery", pytest.approx(-49.0))]


def test_cost_anomalies_are_those_of_the_period_only(weekly: Report) -> None:
    cost = _body(weekly, "cost")
    assert isinstance(cost, CostSection)
    # S3 scored 8.0 nine days ago: outside the 7-day period.
    assert [(a.service, a.score) for a in cost.anomalies] == [("AWSDataTransfer", 6.2)]


def test_delivery_keys_levels_and_changes(weekly: Report) -> None:
    delivery = _body(weekly, "delivery")
    assert isinstance(delivery, DeliverySection)
    assert delivery.window == "7d"
    services = {s.service: s for s in delivery.services}
    assert set(services) == {"shop-api", "checkout"}
    for (service, key), (now, before) in history.DORA.items():
        got = services[service].rework if key == "rework" else services[service].key(key)
        assert (got.value, got.previous) == (pytest.approx(now), pytest.approx(before)), key
    for (service, key), (now, before) in history.LEVELS.items():
        got = services[service].key(key)
        assert (got.level, got.previous_level) == (now, before), (service, key)
    assert services["shop-api"].deployments == pytest.approx(14)
    assert services["checkout"].deployments == pytest.approx(2)


def test_delivery_key_without_a_series_is_not_applicable_never_zero(weekly: Report) -> None:
    delivery = _body(weekly, "delivery")
    assert isinstance(delivery, DeliverySection)
    checkout = next(s for s in delivery.services if s.service == "checkout")
    restore = checkout.key("time_to_restore")
    assert (restore.value, restore.level) == (None, None)
    assert restore.note == "no incident resolved in the window"


def test_reliability_slo_attainment_burn_and_budget(weekly: Report) -> None:
    reliability = _body(weekly, "reliability")
    assert isinstance(reliability, ReliabilitySection)
    slos = {(s.service, s.name): s for s in reliability.slos}
    error_ratio = history.ERROR_RATE / (history.OK_RATE + history.ERROR_RATE)
    availability = slos[("shop-api", "availability")]
    assert availability.attainment == pytest.approx(1 - error_ratio, rel=1e-9)
    assert availability.burn == pytest.approx(error_ratio / 0.001, rel=1e-9)
    assert availability.remaining == history.REMAINING["availability"]
    assert availability.met is True
    latency = slos[("shop-api", "latency")]
    slow = 1 - history.FAST_RATE / history.ALL_RATE
    assert latency.attainment == pytest.approx(1 - slow, rel=1e-9)
    assert latency.burn == pytest.approx(slow / 0.01, rel=1e-9)
    assert latency.met is False
    assert latency.remaining == history.REMAINING["latency"]
    # No traffic at all: not computable, and not 100% either.
    checkout = slos[("checkout", "availability")]
    assert (checkout.attainment, checkout.burn, checkout.remaining) == (None, None, None)
    assert checkout.window == "28d"


def test_reliability_probes_and_certificates(weekly: Report, loaded_prometheus: History) -> None:
    reliability = _body(weekly, "reliability")
    assert isinstance(reliability, ReliabilitySection)
    probes = {p.probe: p.availability for p in reliability.probes}
    end = loaded_prometheus.end
    assert probes == {
        "shop-home": pytest.approx(history.probe_availability("shop-home", end)),
        "checkout-api": 1.0,
    }
    assert probes["shop-home"] < 0.99  # the 2-hour outage shows
    certs = [(c.probe, c.days_left, c.urgent) for c in reliability.certificates]
    assert certs == [("shop-home", pytest.approx(10.0), True)]  # checkout's 90 days: not soon


def test_alerts_counts_noisiest_and_time_to_resolve(
    weekly: Report, loaded_prometheus: History
) -> None:
    alerts = _body(weekly, "alerts")
    assert isinstance(alerts, AlertsSection)
    want = history.episodes_in(loaded_prometheus.end)
    assert len(alerts.episodes) == len(want) == 11
    assert dict(alerts.by_severity) == {"critical": 1, "high": 4, "medium": 3, "low": 3}
    assert dict(alerts.by_service) == {"shop-api": 4, "no service": 4, "opslens": 3}
    assert alerts.still_firing == 1
    resolved = sorted(stop - start for _, _, _, start, stop in want if stop < loaded_prometheus.end)
    assert alerts.resolved == len(resolved) == 10
    assert alerts.resolution_median == resolved[4] == 45 * 60  # nearest rank of 10
    assert alerts.resolution_p90 == resolved[8] == 120 * 60
    top = alerts.noisiest[0]
    assert (top.alertname, top.service, top.count, top.firing_seconds) == (
        "HostDiskFillingUp",
        "opslens",
        3,
        60 * 60,
    )


def test_daily_digest_lists_only_the_days_low_severity_alerts(loaded_prometheus: History) -> None:
    config = loaded_prometheus.config()
    digest = asyncio.run(
        make(config, loaded_prometheus.url, loaded_prometheus.end, kind="daily_digest")
    )
    assert [s.name for s in digest.sections] == ["alerts"]
    alerts = _body(digest, "alerts")
    assert isinstance(alerts, AlertsSection)
    want = history.episodes_in(loaded_prometheus.end, 86400, severity="low")
    assert [(e.alertname, e.start, e.end) for e in alerts.episodes] == [
        (name, start, stop) for name, _, _, start, stop in want
    ]
    assert len(alerts.episodes) == 2  # the third low alert fired two days ago


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "report", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_cli_writes_a_self_contained_html_file(loaded_prometheus: History, tmp_path: Path) -> None:
    config = loaded_prometheus.config_file(tmp_path)
    out = tmp_path / "report.html"
    done = _cli("-c", config, "--period", "7d", "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    for section in ("cost", "delivery", "reliability", "alerts"):
        assert f'id="{section}"' in page
    assert "2,930 USD" in page  # AmazonEC2's week
    assert "https://grafana.example.com/d/opslens-cost/?viewPanel=" in page


def test_cli_markdown_and_text(loaded_prometheus: History, tmp_path: Path) -> None:
    config = loaded_prometheus.config_file(tmp_path)
    md = _cli("-c", config, "--format", "md", cwd=tmp_path)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# acme: review, last 7 days")
    assert "| AmazonRDS | 1,260 USD | 840.00 USD | +420.00 USD |" in md.stdout
    txt = _cli("-c", config, "--format", "txt", "--report", "low-alerts", cwd=tmp_path)
    assert txt.returncode == 0, txt.stderr
    assert txt.stdout.startswith("acme: daily alert digest")
    assert "CloudCostApiCapReached" in txt.stdout and "CloudCostDataStale" not in txt.stdout


def test_cli_prometheus_unreachable_says_so_and_exits_non_zero(
    loaded_prometheus: History, tmp_path: Path
) -> None:
    config = loaded_prometheus.config_file(tmp_path)
    out = tmp_path / "report.html"
    with refused_port() as port:
        done = _cli(
            "-c", config, "--prometheus", f"http://127.0.0.1:{port}", "-o", out, cwd=tmp_path
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    for title in ("Cost", "Delivery (DORA)", "Reliability", "Alerts"):
        assert (
            f"section {title} is missing: cannot reach Prometheus at http://127.0.0.1:{port}"
            in (done.stderr)
        )
    page = out.read_text(encoding="utf-8")
    assert "Incomplete report." in page and page.count('class="missing"') == 4


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that is bound but never listens: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def test_a_failing_query_marks_only_its_section_missing(loaded_prometheus: History) -> None:
    """A Prometheus that rejects the DORA queries: the other sections still report."""

    async def proxy(request: web.Request) -> web.Response:
        form = await request.post()
        if "dora_" in str(form.get("query", "")):
            body = {"status": "error", "errorType": "execution", "error": "query timed out"}
            return web.json_response(body, status=503)
        async with aiohttp.ClientSession() as session:
            upstream = f"{loaded_prometheus.url}{request.path}"
            async with session.post(upstream, data=dict(form)) as answer:
                return web.Response(body=await answer.read(), content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/v1/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        config = loaded_prometheus.config()
        report = await make(config, f"http://127.0.0.1:{port}", loaded_prometheus.end)
    finally:
        await runner.cleanup()
    assert [s.name for s in report.missing] == ["delivery"]
    error = report.missing[0].error or ""
    assert error == "execution: query timed out (14 of 14 queries)"
    assert all(s.body is not None for s in report.sections if s.name != "delivery")
