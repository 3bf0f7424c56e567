"""The rules generator: golden output, burn-rate maths, clean numbers, alert hygiene."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import SEVERITIES, Config, Duration, load, parse, slo_policy
from agent.generate import naming, rules
from agent.generate.artefact import serialise
from agent.generate.hosts import COMPOSE
from agent.generate.rules import slo as slo_pack
from agent.generate.rules.common import num
from tests.conftest import SHARED_DATA

# A second, small config exercising what the reference config does not: a 7d latency SLO
# with an integral threshold, a 95 % 90d SLO, no budgets, packs switched off, custom rules.
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
prometheus:
  retention: 90d
"""

# One 99.9 % SLO per period the burn-rate policy must hold for, both SLI kinds.
PERIODS = """\
version: 1
project: periods
slos:
  - name: day
    service: api
    objective: 99.9
    window: 1d
    errors: 'http_requests_total{job="api",status=~"5.."}'
    total: 'http_requests_total{job="api"}'
  - name: week
    service: api
    objective: 99.9
    window: 7d
    latency: {metric: http_request_duration_seconds, threshold: 0.25, selector: 'job="api"'}
  - name: four-weeks
    service: api
    objective: 99.9
    window: 28d
    errors: 'http_requests_total{job="api",status=~"5.."}'
    total: 'http_requests_total{job="api"}'
  - name: month
    service: api
    objective: 99.9
    window: 30d
    latency: {metric: http_request_duration_seconds, threshold: 0.25, selector: 'job="api"'}
prometheus:
  retention: 30d
"""


def small() -> Config:
    return parse(SMALL)


def periods() -> Config:
    return parse(PERIODS)


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
        checks = [c for case in pack.all_cases() for c in case.checks]
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


def slo_rules(config: Config, service: str, name: str) -> list[dict[str, Any]]:
    """The rules of one SLO's own file, both groups."""
    groups = rules.rule_groups(config)[naming.slo_pack(service, name)]
    return [r for g in groups for r in g["rules"]]


def test_slo_alerts_route_by_service_with_page_and_ticket_severities(reference: Config) -> None:
    by_pair = {
        (r["alert"], r["labels"].get("long"), r["labels"].get("short")): r
        for r in slo_rules(reference, "shop-api", "availability")
        + slo_rules(reference, "checkout", "availability")
        if "alert" in r
    }
    fast = by_pair[("SloShopApiAvailabilityErrorBudgetBurnFast", "1h", "5m")]
    slow = by_pair[("SloCheckoutAvailabilityErrorBudgetBurnSlow", "2d19h12m", "5h36m")]
    assert fast["labels"] == {
        "severity": "critical",
        "service": "shop-api",
        "long": "1h",
        "short": "5m",
    }
    assert slow["labels"]["severity"] == "high" and slow["labels"]["service"] == "checkout"
    # Both windows over the factor, and enough events in the long window.
    assert fast["expr"] == (
        'opslens_slo:burn_rate:ratio_rate1h{slo="availability",service="shop-api"} > 14.4\n'
        "and\n"
        'opslens_slo:burn_rate:ratio_rate5m{slo="availability",service="shop-api"} > 14.4\n'
        "and\n"
        'opslens_slo:sli_events:increase1h{slo="availability",service="shop-api"} >= 10'
    )
    assert "> 1\n" in slow["expr"] and "sli_events:increase2d19h12m" in slow["expr"]
    # The HTTP pack's request-rate floor no longer guards SLO pages.
    assert all(
        "sli_total" not in r["expr"] and r["for"] == "0s" for k, r in by_pair.items() if k[1]
    )
    assert "$value" in fast["annotations"]["description"]


@pytest.mark.parametrize(
    ("window", "pairs"),
    [
        (
            "1d",
            [("2m", "1m", "14.4"), ("12m", "1m", "6"), ("48m", "4m", "3"), ("2h24m", "12m", "1")],
        ),
        (
            "7d",
            [
                ("14m", "1m", "14.4"),
                ("1h24m", "7m", "6"),
                ("5h36m", "28m", "3"),
                ("16h48m", "1h24m", "1"),
            ],
        ),
        (
            "28d",
            [
                ("56m", "5m", "14.4"),
                ("5h36m", "28m", "6"),
                ("22h24m", "1h52m", "3"),
                ("2d19h12m", "5h36m", "1"),
            ],
        ),
        ("30d", [("1h", "5m", "14.4"), ("6h", "30m", "6"), ("1d", "2h", "3"), ("3d", "6h", "1")]),
        (
            "90d",
            [("3h", "15m", "14.4"), ("18h", "1h30m", "6"), ("3d", "6h", "3"), ("9d", "18h", "1")],
        ),
    ],
)
def test_windows_scale_with_the_period_and_factors_stay(
    window: str, pairs: list[tuple[str, ...]]
) -> None:
    period = Duration.parse(window)
    got = slo_policy.conditions(period)
    assert [(naming.window(c.long), naming.window(c.short), num(c.factor)) for c in got] == pairs
    for c, share in zip(got, ("0.02", "0.05", "0.1", "0.1"), strict=True):
        # Each condition spends the workbook's share of the budget in its long window
        # (exactly, where the scaled window is a whole number of minutes).
        spent = c.factor * Decimal(c.long.total_seconds()) / Decimal(period.total_seconds())
        assert abs(spent - Decimal(share)) <= Decimal("0.001"), (window, c)


@pytest.mark.parametrize("days", [1, 2, 7, 14, 28, 30, 45, 90, 365])
def test_no_condition_fires_at_or_below_the_sustainable_rate(days: int) -> None:
    """Every factor is at least 1 and every comparison strict: a burn rate of 1 never alerts."""
    slo = parse(
        PERIODS.replace("window: 1d", f"window: {days}d").replace(
            "retention: 30d", f"retention: {max(days, 30)}d"
        )
    ).slos[0]
    for c in slo_pack.conditions(slo):
        assert c.factor >= 1 and c.short < c.long
    for rule in slo_rules(
        parse(
            PERIODS.replace("window: 1d", f"window: {days}d").replace(
                "retention: 30d", f"retention: {max(days, 30)}d"
            )
        ),
        "api",
        "day",
    ):
        if "ErrorBudgetBurn" in rule.get("alert", ""):
            factors = re.findall(r"ratio_rate\w+\{[^}]*\} > ([0-9.]+)\n", rule["expr"])
            assert len(factors) == 2 and all(Decimal(f) >= 1 for f in factors), rule["expr"]


def test_recording_rules_live_in_their_own_namespace(reference: Config) -> None:
    records = [
        r
        for p in rules.packs(reference)
        if p.name.startswith("slo-")
        for r in p.groups[0]["rules"] + p.groups[1]["rules"]
        if "record" in r
    ]
    assert records and all(r["record"].startswith("opslens_slo:") for r in records)
    assert all(r["labels"]["slo"] and r["labels"]["service"] for r in records)
    sloth = yaml.safe_load((SHARED_DATA / "sloth" / "kubernetes-apiserver.gen.yml").read_text())
    theirs = {r["record"] for g in sloth["groups"] for r in g["rules"] if "record" in r}
    assert "slo:sli_error:ratio_rate5m" in theirs
    assert not theirs & {r["record"] for r in records}


def test_slo_recording_rules_follow_the_label_contract(reference: Config) -> None:
    checkout = {
        r["record"]: r for r in slo_rules(reference, "checkout", "availability") if "record" in r
    }
    for window in ("5m", "28m", "56m", "1h52m", "5h36m", "22h24m", "2d19h12m"):
        burn = checkout[f"opslens_slo:burn_rate:ratio_rate{window}"]
        assert burn["labels"] == {"slo": "availability", "service": "checkout"}
        # Traffic-weighted: increases of errors over recorded events, never an average of ratios.
        assert "sum(increase(" in burn["expr"] and f"[{window}]" in burn["expr"]
        assert (
            f"opslens_slo:sli_events:increase{window}" in burn["expr"] and "avg" not in burn["expr"]
        )
        assert burn["expr"].endswith("/ 0.0005")
        events = checkout[f"opslens_slo:sli_events:increase{window}"]
        assert events["expr"] == f'sum(increase(http_requests_total{{job="checkout"}}[{window}]))'
    assert checkout["opslens_slo:objective:ratio"]["expr"] == "vector(0.9995)"
    assert checkout["opslens_slo:error_budget:ratio"]["expr"] == "vector(0.0005)"
    info = checkout["opslens_slo:info"]
    assert info["labels"] == {
        "slo": "availability",
        "service": "checkout",
        "objective": "99.95",
        "window": "28d",
    }


def test_period_ratio_sums_increases_recorded_every_five_minutes(reference: Config) -> None:
    groups = rules.rule_groups(reference)["slo-checkout-availability"]
    fast, period = groups
    assert "interval" not in fast and period["interval"] == "5m"
    by = {r.get("record", r.get("alert")): r for r in period["rules"]}
    assert (
        by["opslens_slo:interval_events:increase5m"]["expr"]
        == 'sum(increase(http_requests_total{job="checkout"}[5m]))'
    )
    sums = by["opslens_slo:period_errors:increase"]["expr"]
    ids = '{slo="availability",service="checkout"}'
    assert sums == f"sum_over_time(opslens_slo:interval_errors:increase5m{ids}[28d])"
    # Nothing reads the raw counters over the whole period.
    assert not any(
        "[28d]" in r["expr"] and "http_requests_total" in r["expr"] for r in period["rules"]
    )
    assert by["opslens_slo:error_budget_remaining:ratio"]["expr"] == (
        '1 - opslens_slo:period_error:ratio{slo="availability",service="checkout"} / 0.0005'
    )
    assert by["SloCheckoutAvailabilityErrorBudgetExhausted"]["labels"]["severity"] == "high"


def test_latency_slo_counts_requests_slower_than_the_threshold_bucket() -> None:
    latency = next(s for s in small().slos if s.latency is not None)
    assert (
        slo_pack.events_expr(latency, "1h")
        == 'sum(increase(http_request_duration_seconds_count{job="api"}[1h]))'
    )
    errors = slo_pack.errors_expr(latency, "1h", "opslens_slo:sli_events:increase1h")
    # An integral bound is "1" from Go clients and "1.0" from client_python.
    assert 'http_request_duration_seconds_bucket{job="api",le=~"1|1\\\\.0"}[1h]' in errors
    assert errors.startswith('(\n  opslens_slo:sli_events:increase1h{slo="latency",service="api"}')


def test_min_events_guards_every_condition() -> None:
    config = parse(PERIODS.replace("    window: 1d\n", "    window: 1d\n    min_events: 250\n"))
    alerts = [r for r in slo_rules(config, "api", "day") if "ErrorBudgetBurn" in r.get("alert", "")]
    assert len(alerts) == 4
    for rule in alerts:
        long = rule["labels"]["long"]
        assert rule["expr"].endswith(
            f'opslens_slo:sli_events:increase{long}{{slo="day",service="api"}} >= 250'
        )
    assert periods().slos[0].min_events == 10


def test_conditions_that_cannot_be_met_are_dropped() -> None:
    # 50% over 30d: every page factor × 0.5 is an error ratio of 1 or more; 1× still works.
    lax = parse(
        SMALL.replace("objective: 99.5", "objective: 50").replace("window: 7d", "window: 30d")
    )
    kept = slo_pack.conditions(lax.slos[0])
    assert [(c.speed, num(c.factor)) for c in kept] == [("slow", "1")]
    names = {r["alert"] for r in alerts_of(lax)}
    assert "SloApiLatencyErrorBudgetBurnFast" not in names
    assert "SloApiLatencyErrorBudgetBurnSlow" in names
    # 95%: 14.4 × 0.05 = 0.72, all four stay.
    assert len(slo_pack.conditions(small().slos[1])) == 4


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
    # One rules file per SLO, so promtool runs each SLO's cases on its own rules only.
    assert list(rules.rule_groups(reference)) == [
        "slo-shop-api-availability",
        "slo-shop-api-latency",
        "slo-checkout-availability",
        "http",
        "probes",
        "host",
        "cost",
        "dora",
        "exporters",
    ]
    assert list(rules.rule_groups(small())) == [
        "slo-api-latency",
        "slo-api-availability",
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
    pack = next(p for p in rules.packs(config) if p.name == "slo-api-availability")
    assert [c.name for c in pack.all_cases()] == [
        "slo api/availability: rules load (selectors too complex to synthesise)"
    ]


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
        for case in pack.all_cases():
            for check in case.checks:
                # The breach shows from the second sample on; it must then hold for `for`.
                needed = longest[check.alert] + Duration.parse(case.interval)
                assert Duration.parse(check.eval_time) >= needed, (case.name, check.alert)


def _after(title: str) -> Duration:
    """The warm history a case title announces: `… after 6h of clean traffic …`."""
    match = re.search(r" after (\w+) (?:of clean traffic|without traffic)", title)
    assert match, title
    return Duration.parse(match.group(1))


def _firing(case: Any, alert: str) -> list[tuple[Duration, set[str]]]:
    """(eval time, long/short pairs firing) of every check of `alert` in `case`."""
    return [
        (
            Duration.parse(c.eval_time),
            {f"{a['exp_labels'].get('long')}/{a['exp_labels'].get('short')}" for a in c.alerts},
        )
        for c in case.checks
        if c.alert == alert
    ]


@pytest.mark.parametrize("name", ["day", "week", "four-weeks", "month"])
def test_every_period_gets_cases_for_what_the_policy_promises(name: str) -> None:
    config = periods()
    slo = next(s for s in config.slos if s.name == name)
    pack = next(p for p in rules.packs(config) if p.name == f"slo-api-{name}")
    cases = {c.name.removeprefix(f"slo api/{name}: "): c for c in pack.all_cases()}
    page, ticket = (naming.slo_alert("api", name, k) for k in ("fast", "slow"))
    conds = slo_pack.conditions(slo)
    longest_page = max(c.long for c in conds if c.speed == "fast")
    longest = max(c.long for c in conds)

    # 5 % errors for an hour page within 20 minutes, after warm history.
    ((title, burst),) = [
        (t, c) for t, c in cases.items() if t.startswith("5% errors (50× the budget) for 1h")
    ]
    warm = _after(title)
    assert warm >= longest_page
    firing = _firing(burst, page)
    first = min(t for t, pairs in firing if pairs)
    assert first - warm <= timedelta(minutes=20), title
    assert any(t < first and not pairs for t, pairs in firing)

    # 0.3 % for 3 days opens a ticket, after at least the longest window of clean traffic.
    ((title, slow),) = [
        (t, c) for t, c in cases.items() if t.startswith("0.3% errors (3× the budget) for 3d")
    ]
    assert _after(title) >= longest
    assert _firing(slow, ticket)[-1][1] and not any(p for _, p in _firing(slow, page))

    # A steady half-budget error rate fires nothing, every alert checked.
    (half,) = [c for t, c in cases.items() if t.startswith("steady 0.05% errors (0.5× the budget)")]
    assert {c.alert for c in half.checks} == {
        naming.slo_alert("api", name, k) for k in naming.SLO_ALERTS
    }
    assert half.checks and not any(c.alerts for c in half.checks)

    # A low-traffic outage pages while it lasts, not only after it.
    ((title, low),) = [
        (t, c) for t, c in cases.items() if t.startswith("2 events a minute, all failing, for 2h")
    ]
    start, end = _after(title), _after(title) + timedelta(hours=2)
    during = [t for t, pairs in _firing(low, page) if pairs and start < t <= end]
    assert (
        during
        and max(during) >= end - timedelta(minutes=5)
        and min(during) - start <= timedelta(minutes=10)
    )

    # After an idle spell no series is NaN: every record counted at the end.
    (idle,) = [c for t, c in cases.items() if "no series is NaN" in t]
    records = {r["record"] for g in pack.groups for r in g["rules"] if "record" in r}
    counts = [s for s in idle.exprs if s.expr.startswith("count(")]
    assert len(counts) == 2 and all(s.samples == [("{}", float(len(records)))] for s in counts)


@pytest.mark.parametrize("config", ["reference", "periods"])
def test_cases_tell_the_window_pairs_apart(config: str, reference: Config) -> None:
    """For two conditions of one alert, some check has one firing and not the other."""
    cfg = reference if config == "reference" else periods()
    for pack in (p for p in rules.packs(cfg) if p.name.startswith("slo-")):
        slo = next(s for s in cfg.slos if naming.slo_pack(s.service, s.name) == pack.name)
        for speed in ("fast", "slow"):
            alert = naming.slo_alert(slo.service, slo.name, speed)
            pairs = [
                f"{naming.window(c.long)}/{naming.window(c.short)}"
                for c in slo_pack.conditions(slo)
                if c.speed == speed
            ]
            seen = [p for case in pack.all_cases() for _, p in _firing(case, alert)]
            for a, b in itertools.combinations(pairs, 2):
                assert any((a in s) != (b in s) for s in seen), (pack.name, a, b)
