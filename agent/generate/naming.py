"""Naming conventions for everything generated: files, paths, groups, alerts, uids, labels.

Every name that more than one generator (or `opslens check`) relies on lives here, so
the rules, their promtool cases, the dashboards and the deployments cannot disagree.
"""

from __future__ import annotations

from datetime import timedelta

from agent.config import Duration

DATASOURCE_UID = "opslens-prometheus"
AGENT_JOB = "opslens"

# --- files in the output tree, relative to the config's folder ----------------------------

PROMETHEUS_CONFIG_FILE = "compose/prometheus.yml"
COMPOSE_FILE = "compose/docker-compose.yml"
ALERTMANAGER_CONFIG_FILE = "alertmanager/alertmanager.yml"
ALERTMANAGER_TEMPLATES_DIR = "alertmanager/templates"
RULES_DIR = "rules"
RULES_TESTS_DIR = f"{RULES_DIR}/tests"
DASHBOARDS_DIR = "grafana/dashboards"
GRAFANA_DATASOURCES_FILE = "grafana/provisioning/datasources/opslens.yaml"
GRAFANA_DASHBOARD_PROVIDERS_FILE = "grafana/provisioning/dashboards/opslens.yaml"
K8S_DIR = "k8s"


def rules_file(pack: str) -> str:
    return f"{RULES_DIR}/{pack}.rules.yml"


def rules_test_file(pack: str) -> str:
    return f"{RULES_TESTS_DIR}/{pack}.test.yml"


def dashboard_file(name: str) -> str:
    return f"{DASHBOARDS_DIR}/{name}.json"


def alertmanager_template_file(name: str) -> str:
    return f"{ALERTMANAGER_TEMPLATES_DIR}/{name}"


# --- paths inside the containers (compose and k8s run the same images) --------------------

AGENT_PORT = 10470
AGENT_CONFIG_PATH = "/etc/opslens/opslens.yaml"
AGENT_DATA_DIR = "/var/lib/opslens"
AGENT_UID = 10001  # the user the Dockerfile creates
AGENT_COMMAND = [
    "run",
    "all",
    "-c",
    AGENT_CONFIG_PATH,
    "--listen",
    f"0.0.0.0:{AGENT_PORT}",
    "--data-dir",
    AGENT_DATA_DIR,
]
PROMETHEUS_CONFIG_DIR = "/etc/prometheus/compose"
ALERTMANAGER_CONFIG_DIR = "/etc/alertmanager"
# Where compose mounts grafana/dashboards for the dashboards provider to read.
GRAFANA_DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards/opslens"

# --- rule groups and recording rules --------------------------------------------------------

RULES_PREFIX = "opslens"


def rule_group(*parts: str) -> str:
    """`("slo", "shop-api", "availability")` → `opslens-slo-shop-api-availability`."""
    return "-".join((RULES_PREFIX, *parts))


# The SLO pack records these and the dashboards read them. Everything lives under the
# `opslens_slo:` prefix so that Sloth's or Pyrra's rules (`slo:…`, `…:burnrate…`) in the
# same Prometheus never share a series name with ours.
SLO_PREFIX = "opslens_slo"
SLO_INFO = f"{SLO_PREFIX}:info"
SLO_OBJECTIVE = f"{SLO_PREFIX}:objective:ratio"
SLO_ERROR_BUDGET = f"{SLO_PREFIX}:error_budget:ratio"
SLO_PERIOD_ERRORS = f"{SLO_PREFIX}:period_errors:increase"
SLO_PERIOD_EVENTS = f"{SLO_PREFIX}:period_events:increase"
SLO_PERIOD_ERROR_RATIO = f"{SLO_PREFIX}:period_error:ratio"
SLO_ERROR_BUDGET_REMAINING = f"{SLO_PREFIX}:error_budget_remaining:ratio"


def slo_pack(service: str, name: str) -> str:
    """`slo-<service>-<name>`: the SLO's own rules file and promtool test files."""
    return f"slo-{service}-{name}"


def slo_events(window: str) -> str:
    """Events of the SLI over `window` (an increase, not a rate)."""
    return f"{SLO_PREFIX}:sli_events:increase{window}"


def slo_burn_rate(window: str) -> str:
    """Bad events ÷ events over `window` ÷ the error budget: 1 spends the budget exactly.

    0 when the window holds no events; the error ratio is this × the budget.
    """
    return f"{SLO_PREFIX}:burn_rate:ratio_rate{window}"


def slo_interval_errors(step: str) -> str:
    """Bad events per `step`, recorded once per step for the whole-period sums."""
    return f"{SLO_PREFIX}:interval_errors:increase{step}"


def slo_interval_events(step: str) -> str:
    """Events per `step`, recorded once per step for the whole-period sums."""
    return f"{SLO_PREFIX}:interval_events:increase{step}"


def window(period: timedelta) -> str:
    """A rule window as people write it: `28d` rather than `4w`, `90d` rather than `12w6d`."""
    seconds = int(period.total_seconds())
    if seconds and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    return Duration.of(seconds).prom()


# --- alert names: docs/runbooks.md has a section for each ---------------------------------

HTTP_ERROR_RATIO_HIGH = "HttpErrorRatioHigh"
HTTP_LATENCY_P95_HIGH = "HttpLatencyP95High"

PROBE_DOWN = "ProbeDown"
PROBE_SLOW = "ProbeSlow"
PROBE_CERTIFICATE_EXPIRING = "ProbeCertificateExpiring"

HOST_CPU_HIGH = "HostCpuHigh"
HOST_MEMORY_HIGH = "HostMemoryHigh"
HOST_DISK_SPACE_LOW = "HostDiskSpaceLow"

COST_BUDGET_THRESHOLD_REACHED = "CloudCostBudgetThresholdReached"
COST_BUDGET_FORECAST_EXCEEDED = "CloudCostBudgetForecastExceeded"
COST_ANOMALY = "CloudCostAnomaly"
COST_DATA_STALE = "CloudCostDataStale"
COST_API_CAP_REACHED = "CloudCostApiCapReached"

DORA_PERFORMANCE_LEVEL_DROPPED = "DoraPerformanceLevelDropped"
DORA_CHANGE_FAILURE_RATIO_HIGH = "DoraChangeFailureRatioHigh"
DORA_TIME_TO_RESTORE_REGRESSED = "DoraTimeToRestoreRegressed"

AGENT_DOWN = "OpslensAgentDown"
SOURCE_DOWN = "OpslensSourceDown"
SOURCE_STALE = "OpslensSourceStale"
CONFIG_RELOAD_FAILED = "OpslensConfigReloadFailed"


def camel(*parts: str) -> str:
    """`("slo", "shop-api", "availability")` → `SloShopApiAvailability` for alert names."""
    words = []
    for part in parts:
        for word in part.replace("-", "_").replace(".", "_").split("_"):
            if word:
                words.append(word[:1].upper() + word[1:])
    return "".join(words)


# The alerts every SLO gets, by kind; `Slo<Service><Name><suffix>`.
SLO_ALERTS = {
    "fast": "ErrorBudgetBurnFast",
    "slow": "ErrorBudgetBurnSlow",
    "absent": "SLIAbsent",
    "exhausted": "ErrorBudgetExhausted",
}


def slo_alert(service: str, name: str, kind: str) -> str:
    """The page (`fast`), ticket (`slow`), `absent` or `exhausted` alert of one SLO."""
    return camel("slo", service, name) + SLO_ALERTS[kind]


def slo_runbook(kind: str) -> str:
    """Name the runbook section shared by every SLO's alert of this kind."""
    return "Slo" + SLO_ALERTS[kind]


def runbook_url(base: str, alert: str) -> str:
    return f"{base}#{alert.lower()}"


# --- dashboards ----------------------------------------------------------------------------


def dashboard_uid(name: str) -> str:
    return f"opslens-{name}"
