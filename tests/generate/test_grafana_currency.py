"""Money is shown per currency: never summed across currencies, never under a fixed unit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.cli.up import demo_config_text
from agent.config import Config, load, parse
from agent.generate.grafana import dashboards, metric_names

ROOT = Path(__file__).resolve().parents[2]
# Series in a billing currency (the `currency` label); opslens_paid_api_cost_usd_total and
# ai_cost_usd_total are USD by definition and may carry currencyUSD.
MONEY = {
    "cloudcost_daily",
    "cloudcost_month_to_date",
    "cloudcost_forecast_month_end",
    "cloudcost_corrections",
    "cloudcost_budget_limit",
    "cloudcost_budget_spent",
    "cloudcost_budget_forecast",
}
AGGREGATION = re.compile(r"\b(sum|topk|max|min|avg|bottomk)\b(?:\s+by\s*\(([^)]*)\))?\s*\(")


def configs() -> dict[str, Config]:
    return {
        "opslens.yaml": load(ROOT / "opslens.yaml"),
        "demo": parse(demo_config_text(Path("/var/lib/opslens-demo"), ROOT), "demo.yaml"),
    }


def money_targets() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for config_name, config in configs().items():
        for name, board in dashboards(config).items():
            stack = list(board["panels"])
            while stack:
                panel = stack.pop(0)
                stack[:0] = panel.get("panels", [])
                for target in panel.get("targets", []):
                    if metric_names(target["expr"]) & MONEY:
                        yield f"{config_name} {name} / {panel['title']}", panel, target


def is_ratio(expr: str) -> bool:
    return "/" in expr


TARGETS = list(money_targets())


def test_money_panels_exist() -> None:
    assert len(TARGETS) >= 15


@pytest.mark.parametrize(("where", "panel", "target"), TARGETS, ids=[t[0] for t in TARGETS])
def test_amounts_keep_their_currency(
    where: str, panel: dict[str, Any], target: dict[str, Any]
) -> None:
    expr = target["expr"]
    if is_ratio(expr):  # spent ÷ limit of the same budget: a share, in no currency
        assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit", where
        return
    unit = panel["fieldConfig"]["defaults"].get("unit", "")
    assert not unit.startswith("currency"), f"{where}: fixed unit {unit} on amounts"
    for match in AGGREGATION.finditer(expr):
        by = {label.strip() for label in (match.group(2) or "").split(",")}
        assert "currency" in by, f"{where}: {match.group(1)} without currency in {expr}"
    if panel["type"] == "table":
        hidden = panel["transformations"][-1]["options"]["excludeByName"]
        assert "currency" not in hidden, f"{where}: the currency column is hidden"
    else:
        assert target["legendFormat"].endswith("{{currency}}"), f"{where}: legend without code"
        overrides = panel["fieldConfig"]["overrides"]
        units = {
            o["matcher"]["options"]: o["properties"][0]["value"]
            for o in overrides
            if o["matcher"]["id"] == "byRegexp"
        }
        assert units.get("^(.* )?EUR$") == "currencyEUR", f"{where}: no per-currency unit"
