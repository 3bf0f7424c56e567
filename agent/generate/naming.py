"""Naming conventions for everything generated: files, groups, uids, labels."""

from __future__ import annotations

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
