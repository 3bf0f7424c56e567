"""Naming conventions for everything generated: files, groups, uids, labels."""

from __future__ import annotations

from datetime import timedelta

from agent.config import Duration

DATASOURCE_UID = "opslens-prometheus"
AGENT_JOB = "opslens"


def dashboard_uid(name: str) -> str:
    return f"opslens-{name}"


def rules_file(group: str) -> str:
    return f"rules/{group}.rules.yml"


def rules_test_file(group: str) -> str:
    return f"rules/tests/{group}.test.yml"


def camel(*parts: str) -> str:
    """`("slo", "shop-api", "availability")` → `SloShopApiAvailability` for alert names."""
    words = []
    for part in parts:
        for word in part.replace("-", "_").replace(".", "_").split("_"):
            if word:
                words.append(word[:1].upper() + word[1:])
    return "".join(words)


def runbook_url(base: str, alert: str) -> str:
    return f"{base}#{alert.lower()}"


RULES_PREFIX = "opslens"


def rule_group(*parts: str) -> str:
    """`("slo", "shop-api", "availability")` → `opslens-slo-shop-api-availability`."""
    return "-".join((RULES_PREFIX, *parts))


def slo_alert(service: str, name: str, speed: str) -> str:
    """The page (`fast`) or ticket (`slow`) burn-rate alert of one SLO."""
    return camel("slo", service, name, "error-budget-burn", speed)


def window(period: timedelta) -> str:
    """A rule window as people write it: `28d` rather than `4w`, `90d` rather than `12w6d`."""
    seconds = int(period.total_seconds())
    if seconds and seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    return Duration.of(seconds).prom()
