"""The metric catalogue: every family an OpsLens exporter exposes (docs/metrics.md).

Dashboards and rules may only use these names (or recording rules), and tests keep this
list, the README, docs/metrics.md and what the collectors expose in agreement.
"""

from __future__ import annotations

from exporters.dora import metrics as dora

SELF = (
    "opslens_source_up",
    "opslens_source_last_success_timestamp_seconds",
    "opslens_source_poll_duration_seconds",
    "opslens_source_errors_total",
    "opslens_build_info",
    "opslens_config_last_reload_successful",
    "opslens_config_last_reload_success_timestamp_seconds",
    "opslens_http_connections_refused_total",
)

COST = (
    "cloudcost_daily",
    "cloudcost_month_to_date",
    "cloudcost_forecast_month_end",
    "cloudcost_budget_limit",
    "cloudcost_budget_spent",
    "cloudcost_budget_forecast",
    "cloudcost_anomaly_score",
    "cloudcost_data_timestamp_seconds",
    "cloudcost_folded_series",
    "cloudcost_corrections",
    "opslens_source_rows_dropped_total",
    "opslens_source_rows_defaulted_total",
    "opslens_paid_api_requests_total",
    "opslens_paid_api_cost_usd_total",
    "opslens_paid_api_daily_cap",
    "opslens_paid_api_cap_reached",
)

DORA = (
    *(f.exposed for f in dora.FAMILIES),
    "opslens_series_dropped_total",
    "opslens_source_events_dropped_total",
)

APP = (
    "http_requests_total",
    "http_request_duration_seconds",
    "http_requests_in_flight",
    "cache_hits_total",
    "cache_misses_total",
    "circuit_breaker_state",
    "ai_tokens_total",
    "ai_cost_usd_total",
    "host_cpu_utilization_ratio",
    "host_memory_used_bytes",
    "host_memory_total_bytes",
    "host_disk_used_bytes",
    "host_disk_total_bytes",
    "host_network_received_bytes_total",
    "host_network_sent_bytes_total",
    "host_process_cpu_seconds_total",
    "host_process_resident_memory_bytes",
    "host_process_count",
    "probe_success",
    "probe_duration_seconds",
    "probe_http_status_code",
    "probe_ssl_earliest_cert_expiry",
    "opslens_probe_failure",
)

# Series every Prometheus scrape adds on its own.
SCRAPE = ("up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE")

ALL = SELF + COST + DORA + APP

HISTOGRAMS = ("http_request_duration_seconds", *(f.name for f in dora.of_kind("histogram")))


def series_names() -> frozenset[str]:
    """Every series name a query may use: families plus histogram/counter suffixes."""
    names = set(ALL) | set(SCRAPE)
    for h in HISTOGRAMS:
        names |= {f"{h}_bucket", f"{h}_sum", f"{h}_count"}
    return frozenset(names)
