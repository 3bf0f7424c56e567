"""The rules generator: golden output, burn-rate maths, clean numbers, alert hygiene."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import SEVERITIES, Config, Duration, load, parse
from agent.generate import naming, rules
from agent.generate.artefact import serialise
from agent.generate.hosts import COMPOSE
from agent.generate.rules import slo as slo_pack
from agent.generate.rules.common import num

# A second, small config exercising what the reference config does not: a 7d latency SLO
# with an integral threshold, no traffic guard, no budgets, packs switched off, custom rules.
SMALL = """\
version: 1
project: small
cost:
  anomaly: {enabled: false}
  stale_after: 2d
dora:
  change_failure_ratio_alert: 0.3
  severity: low
app:
  probes:
    - {name: api-health, url: "http://api.internal/healthz", interval: 1m, timeout: 10s}
slos:
  - name: latency
    service: api
    objective: 99.5
    window: 7d
    latency: {metric: http_request_duration_seconds, threshold: 1, selector: 'job="api"'}
  - name: availability
    service: api
    objective: 95
    window: 90d
    errors: 'grpc_server_handled_total{grpc_code=~"Unavailable|Internal"}'
    total: grpc_server_handled_total
alerts:
  runbook_base_url: https://runbooks.example.com/opslens
  packs:
    http: {error_ratio: 0.05, p95_latency_seconds: 0.5, min_request_rate: 0, severity: critical}
    probes: {enabled: false}
    host: {cpu_ratio: 1, memory_ratio: 0.75, disk_ratio: 0.95, severity: low}
    exporters: {severity: medium}
  rules:
    - alert: QueueBacklogHigh
      expr: sum(queue_depth) > 1000
      for: 10m
      severity: medium
      service: api
      summary: Queue backlog above 1000
      labels: {team: core}
    - alert: NightlyJobMissing
      expr: absent(job_last_success_timestamp_seconds)
      for: 0s
      severity: low
      summary: Nightly job never reported
      runbook_url: https://runbooks.example.com/nightly
"""


def small() -> Config:
    return parse(SMALL)


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Config:
    return load(Path(request.config.rootpath) / "opslens.yaml")


def alerts_of(config: Config) -> list[dict[str, Any]]:
    return [r for p in rules.packs(config) for r in p.alerts()]


def test_golden_reference(reference: Config, golden: Callable[[str, str], None]) -> None:
    for artefact in rules.render(reference, COMPOSE):
        golden(f"rules/reference/{artefact.path}", serialise(artefact))


def test_golden_small(golden: Callable[[str, str], None]) -> None:
    for artefact in rules.render(small(), COMPOSE):
        golden(f"rules/small/{artefact.path}", serialise(artefact))


def test_committed_rules_match_the_reference_config(reference: Config, root: Path) -> None:
    for artefact in rules.render(reference, COMPOSE):
        assert (root / artefact.path).read_text(encoding="utf-8") == serialise(artefact), (
            f"{artefact.path} drifted: run `opslens generate`"
        )


def test_every_rules_file_has_its_test_file_pointing_back(reference: Config) -> None:
    artefacts = {a.path: a for a in rules.render(reference, COMPOSE)}
    rule_files = sorted(p for p in artefacts if p.endswith(".rules.yml"))
    assert rule_files == [f"rules/{p}.rules.yml" for p in sorted(rules.rule_groups(reference))]
    for path in rule_files:
        pack = Path(path).name.removesuffix(".rules.yml")
        test = artefacts[f"rules/tests/{pack}.test.yml"].content
        assert test["rule_files"] == [f"../{pack}.rules.yml"]
        assert test["tests"], path


@pytest.mark.parametrize("config", [pytest.param("reference"), pytest.param("small")])
def test_alerts_carry_severity_summary_description_runbook(config: str, reference: Config) -> None:
    cfg = reference if config == "reference" else small()
    alerts = alerts_of(cfg)
    assert len(alerts) > 10
    for rule in alerts:
        name = rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), name
        assert annotations["description"].strip(), name
        assert annotations["runbook_url"].startswith("https://"), name


def test_runbook_urls_follow_the_configured_base() -> None:
    by_name = {r["alert"]: r for r in alerts_of(small())}
    assert by_name["HostMemoryHigh"]["annotations"]["runbook_url"] == (
        "https://runbooks.example.com/opslens#hostmemoryhigh"
    )
    assert by_name["NightlyJobMissing"]["annotations"]["runbook_url"] == (
        "https://runbooks.example.com/nightly"
    )


@pytest.mark.parametrize("config", ["reference", "small"])
def test_every_alert_rule_fires_in_a_case_and_every_name_is_tested_silent(
    config: str, reference: Config
) -> None:
    cfg = reference if config == "reference" else small()
    for pack in rules.packs(cfg):
        checks = [c for case in pack.cases for c in case.checks]
        if pack.name == "custom":
            # Arbitrary PromQL has no synthetic breach: the case only loads the rules.
            assert pack.cases and not checks
            continue
        silent = {c.alert for c in checks if not c.alerts}
        fired = [(c.alert, a["exp_labels"]) for c in checks for a in c.alerts]
        for rule in pack.alerts():
            name = rule["alert"]
            assert name in silent, f"{name} has no healthy case"
            own = rule["labels"].items()
            assert any(n == name and own <= labels.items() for n, labels in fired), (
                f"{name} {rule['labels']} never fires in {pack.name} cases"
            )


@pytest.mark.parametrize("config", ["reference", "small"])
def test_every_alert_name_appears_in_a_test_file(config: str, reference: Config) -> None:
    cfg = reference if config == "reference" else small()
    artefacts = rules.render(cfg, COMPOSE)
    tested = {
        t["alertname"]
        for a in artefacts
        if a.path.startswith("rules/tests/")
        for group in a.content["tests"]
        for t in group.get("alert_rule_test", [])
    }
    custom = {r.alert for r in cfg.alerts.rules}
    assert {r["alert"] for r in alerts_of(cfg)} - custom <= tested


def test_slo_alerts_route_by_service_with_page_and_ticket_severities(reference: Config) -> None:
    by_name = {r["alert"]: r for r in alerts_of(reference)}
    fast = by_name["SloShopApiAvailabilityErrorBudgetBurnFast"]
    slow = by_name["SloCheckoutAvailabilityErrorBudgetBurnSlow"]
    assert fast["labels"] == {"severity": "critical", "service": "shop-api"}
    assert slow["labels"] == {"severity": "high", "service": "checkout"}
    assert "(14.4 * 0.001)" in fast["expr"] and "(6 * 0.001)" in fast["expr"]
    assert "slo:sli_total:rate1h" in fast["expr"]  # the minimum-traffic guard
    assert "(2.8 * 0.0005)" in slow["expr"] and "(0.9333 * 0.0005)" in slow["expr"]
    assert "sli_total" not in slow["expr"]


def test_slo_recording_rules_follow_the_label_contract(reference: Config) -> None:
    groups = rules.rule_groups(reference)["slo"]
    records = [r for g in groups for r in g["rules"] if "record" in r]
    checkout = {r["record"]: r for r in records if r["labels"]["service"] == "checkout"}
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "28d"):
        rule = checkout[f"slo:sli_error:ratio_rate{window}"]
        assert rule["labels"] == {"slo": "availability", "service": "checkout"}
        # Traffic-weighted: a ratio of summed increases, never an average of ratios.
        assert "sum(increase(" in rule["expr"] and f"[{window}]" in rule["expr"]
        assert "avg" not in rule["expr"]
    assert checkout["slo:objective:ratio"]["expr"] == "vector(0.9995)"
    assert checkout["slo:error_budget:ratio"]["expr"] == "vector(0.0005)"
    assert "slo:sli_error:ratio_rate28d" in checkout["slo:error_budget_remaining:ratio"]["expr"]


def test_latency_slo_counts_requests_slower_than_the_threshold_bucket() -> None:
    latency = next(s for s in small().slos if s.latency is not None)
    errors, total = slo_pack.sli_exprs(latency, "1h")
    assert total == 'sum(increase(http_request_duration_seconds_count{job="api"}[1h]))'
    # An integral bound is "1" from Go clients and "1.0" from client_python.
    assert 'http_request_duration_seconds_bucket{job="api",le=~"1|1\\\\.0"}[1h]' in errors
    assert slo_pack.ratio_expr(latency, "1h") == f"{errors}\n/\n{total}"


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("30d", ["14.4", "6", "3", "1"]),
        ("28d", ["13.44", "5.6", "2.8", "0.9333"]),
        ("90d", ["43.2", "18", "9", "3"]),
        ("7d", ["3.36", "1.4", "0.7", "0.2333"]),
    ],
)
def test_burn_factors_scale_with_the_slo_window(window: str, expected: list[str]) -> None:
    slo_window = Duration.parse(window)
    conditions = [*slo_pack.PAGE.conditions, *slo_pack.TICKET.conditions]
    factors = [slo_pack.burn_factor(slo_window, c.long, c.budget_spent) for c in conditions]
    assert [num(f) for f in factors] == expected
    for c, factor in zip(conditions, factors, strict=True):
        # A factor is a budget fraction spent in the long window, whatever the SLO window.
        spent = factor * Decimal(slo_pack.seconds(c.long)) / Decimal(slo_window.total_seconds())
        assert abs(
            spent - Decimal(c.budget_spent.numerator) / c.budget_spent.denominator
        ) < Decimal("0.0001")


def test_conditions_that_cannot_be_met_are_dropped() -> None:
    slos = {s.name: s for s in small().slos}
    # 95% over 90d: 43.2 × 0.05 is an error ratio above 1; 18 × 0.05 = 0.9 still works.
    page = slo_pack.conditions(slos["availability"], slo_pack.PAGE)
    assert [(c.long, num(f)) for c, f in page] == [("6h", "18")]
    assert len(slo_pack.conditions(slos["availability"], slo_pack.TICKET)) == 2
    # A 1d SLO has no 3d window to look at.
    one_day = parse(SMALL.replace("window: 7d", "window: 1d")).slos[0]
    assert [c.long for c, _ in slo_pack.conditions(one_day, slo_pack.TICKET)] == ["1d"]
    # 50% over 30d: even the 1× ticket is spent only by an error ratio of 1 or more... no:
    # 1 × 0.5 < 1 keeps it, while every page factor × 0.5 ≥ 1 drops the page entirely.
    lax = parse(
        SMALL.replace("objective: 99.5", "objective: 50").replace("window: 7d", "window: 30d")
    )
    assert slo_pack.conditions(lax.slos[0], slo_pack.PAGE) == []
    names = {r["alert"] for r in alerts_of(lax)}
    assert "SloApiLatencyErrorBudgetBurnFast" not in names
    assert "SloApiLatencyErrorBudgetBurnSlow" in names


@pytest.mark.parametrize(
    ("objective", "budget"),
    [
        (99.9, "0.001"),
        (99.95, "0.0005"),
        (99.99, "0.0001"),
        (99, "0.01"),
        (99.5, "0.005"),
        (95, "0.05"),
        (99.999, "0.00001"),
        (90.1, "0.099"),
    ],
)
def test_error_budgets_are_clean_decimals(objective: float, budget: str) -> None:
    assert num(slo_pack.error_budget(objective)) == budget


def test_float_budgets_would_not_be_clean() -> None:
    assert repr(1 - 0.999) == "0.0010000000000000009"
    assert num(slo_pack.error_budget(99.9)) == "0.001"


def test_numbers_in_generated_rules_are_clean(reference: Config) -> None:
    text = "\n".join(serialise(a) for a in rules.render(reference, COMPOSE))
    text += "\n".join(serialise(a) for a in rules.render(small(), COMPOSE))
    assert not re.search(r"\d\.\d*(0000|9999)\d", text), "a float artefact leaked"
    assert not re.search(r"\d[eE][+-]?\d", text), "scientific notation leaked"


def test_num_prints_shortest_decimals() -> None:
    assert num(25000.0) == "25000"
    assert num(Decimal("14.40")) == "14.4"
    assert num(Fraction(14, 15)).startswith("0.9333")
    assert num(0.2) == "0.2"
    assert num(1e-05) == "0.00001"


def test_alert_names_are_a_stable_contract(reference: Config) -> None:
    """Runbook anchors, silences and routes outside OpsLens match on these exact names."""
    names = {r["alert"] for r in alerts_of(reference)}
    assert {n for n in names if not n.startswith("Slo")} == {
        "HttpErrorRatioHigh",
        "HttpLatencyP95High",
        "ProbeDown",
        "ProbeSlow",
        "ProbeCertificateExpiring",
        "HostCpuHigh",
        "HostMemoryHigh",
        "HostDiskSpaceLow",
        "CloudCostBudgetThresholdReached",
        "CloudCostBudgetForecastExceeded",
        "CloudCostAnomaly",
        "CloudCostDataStale",
        "CloudCostApiCapReached",
        "DoraPerformanceLevelDropped",
        "DoraChangeFailureRatioHigh",
        "DoraTimeToRestoreRegressed",
        "OpslensAgentDown",
        "OpslensSourceDown",
        "OpslensSourceStale",
        "OpslensConfigReloadFailed",
    }
    assert naming.slo_alert("shop-api", "availability", "fast") in names
    assert naming.slo_alert("shop-api", "availability", "fast") == (
        "SloShopApiAvailabilityErrorBudgetBurnFast"
    )


def test_packs_follow_config_inputs(reference: Config) -> None:
    assert list(rules.rule_groups(reference)) == [
        "slo",
        "http",
        "probes",
        "host",
        "cost",
        "dora",
        "exporters",
    ]
    assert list(rules.rule_groups(small())) == [
        "slo",
        "http",
        "host",
        "cost",
        "dora",
        "exporters",
        "custom",
    ]
    small_names = {r["alert"] for r in alerts_of(small())}
    # No budgets, anomaly off, probes pack off: none of their alerts.
    assert not {n for n in small_names if n.startswith(("CloudCostBudget", "Probe"))}
    assert "CloudCostAnomaly" not in small_names
    assert {"CloudCostDataStale", "OpslensAgentDown", "QueueBacklogHigh"} <= small_names
    bare = parse("version: 1\nproject: bare\n")
    assert list(rules.rule_groups(bare)) == ["http", "probes", "host", "cost", "dora", "exporters"]


def test_budget_alerts_one_per_threshold_with_budget_severity(reference: Config) -> None:
    budgets = [r for r in alerts_of(reference) if r["alert"] == "CloudCostBudgetThresholdReached"]
    assert [
        (r["labels"]["budget"], r["labels"]["threshold"], r["labels"]["severity"]) for r in budgets
    ] == [
        ("total-monthly", "0.8", "high"),
        ("total-monthly", "1", "high"),
        ("payments-monthly", "0.8", "high"),
        ("payments-monthly", "1", "high"),
        ("daily-guardrail", "1", "critical"),
    ]
    guardrail = next(r for r in budgets if r["labels"]["budget"] == "daily-guardrail")
    assert guardrail["expr"].endswith(">= 1")


def test_custom_rules_keep_their_labels_and_service() -> None:
    custom = rules.rule_groups(small())["custom"][0]["rules"]
    queue, nightly = custom
    assert queue["labels"] == {"severity": "medium", "team": "core", "service": "api"}
    assert queue["for"] == "10m" and queue["expr"] == "sum(queue_depth) > 1000"
    assert nightly["labels"] == {"severity": "low"}
    assert nightly["annotations"]["description"] == "Nightly job never reported"


def test_configured_thresholds_reach_the_rules() -> None:
    by_name = {r["alert"]: r for r in alerts_of(small())}
    assert by_name["HttpErrorRatioHigh"]["labels"]["severity"] == "critical"
    assert ") > 0.05\n" in by_name["HttpErrorRatioHigh"]["expr"]
    assert by_name["HttpErrorRatioHigh"]["expr"].endswith(">= 0")
    assert "> 0.5\n" in by_name["HttpLatencyP95High"]["expr"]
    assert by_name["HostCpuHigh"]["expr"] == "host_cpu_utilization_ratio >= 1"
    assert by_name["HostMemoryHigh"]["expr"].endswith(">= 0.75")
    assert by_name["DoraChangeFailureRatioHigh"]["expr"].endswith("> 0.3")
    assert by_name["DoraChangeFailureRatioHigh"]["labels"]["severity"] == "low"
    # stale_after counts from the end of the latest complete day.
    assert by_name["CloudCostDataStale"]["expr"].endswith(f"> {86400 * 3}")
    assert by_name["OpslensSourceDown"]["labels"]["severity"] == "medium"


def test_selector_synthesis_finds_error_and_good_series() -> None:
    parsed = slo_pack.parse_selector('http_requests_total{job="shop",status=~"5.."}')
    assert parsed == ("http_requests_total", [("job", "=", "shop"), ("status", "=~", "5..")])
    errors = parsed[1]
    bad = slo_pack.sample_labels(errors)
    assert bad == {"job": "shop", "status": "500"}
    good = slo_pack.sample_labels([("job", "=", "shop")], avoid=errors)
    assert good is not None and good["job"] == "shop" and not slo_pack.matches(good, errors)
    grpc = slo_pack.sample_labels([("grpc_code", "=~", "Unavailable|Internal")])
    assert grpc == {"grpc_code": "Unavailable"}
    assert slo_pack.parse_selector("rate(x[5m])") is None


def test_unsynthesisable_slo_selectors_still_get_a_loading_case() -> None:
    # RE2's Unicode classes are beyond Python's re: no sample, so no made-up expectations.
    config = parse(SMALL.replace("Unavailable|Internal", "\\\\p{Lu}+"))
    pack = next(p for p in rules.packs(config) if p.name == "slo")
    names = [c.name for c in pack.cases]
    assert any("too complex" in n for n in names)


def test_rendering_is_deterministic(reference: Config) -> None:
    first = [serialise(a) for a in rules.render(reference, COMPOSE)]
    assert first == [serialise(a) for a in rules.render(reference, COMPOSE)]
    for text in first:
        assert yaml.safe_load(text)


def test_slo_windows_are_named_in_days() -> None:
    assert Duration.parse("28d").prom() == "4w"
    assert naming.window(Duration.parse("28d")) == "28d"
    assert naming.window(timedelta(days=90)) == "90d"
    assert naming.window(Duration.parse("36h")) == "1d12h"


@pytest.mark.parametrize("config", ["reference", "small"])
def test_firing_checks_wait_out_the_for_duration(config: str, reference: Config) -> None:
    cfg = reference if config == "reference" else small()
    for pack in rules.packs(cfg):
        longest = {}
        for rule in pack.alerts():
            hold = Duration.parse(rule["for"])
            longest[rule["alert"]] = max(hold, longest.get(rule["alert"], hold))
        for case in pack.cases:
            for check in case.checks:
                # The breach shows from the second sample on; it must then hold for `for`.
                needed = longest[check.alert] + Duration.parse(case.interval)
                assert Duration.parse(check.eval_time) >= needed, (case.name, check.alert)
