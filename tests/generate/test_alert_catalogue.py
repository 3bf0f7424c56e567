"""docs/alerts.md: generated from the reference and demo configs, and committed current."""

from __future__ import annotations

import re
from pathlib import Path

from agent.config import load, parse
from agent.generate import alert_catalogue
from agent.generate.alert_catalogue import collect, current, demo_config, render, sections

ROOT = Path(__file__).resolve().parents[2]


def test_committed_catalogue_is_current() -> None:
    committed = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    assert committed == current(ROOT), (
        "docs/alerts.md is out of date: run python -m agent.generate.alert_catalogue --write"
    )
    assert alert_catalogue.main(["--check"]) == 0


def test_every_generated_alert_is_listed_with_severity_for_and_runbook() -> None:
    text = current(ROOT)
    rules = collect({"opslens.yaml": load(ROOT / "opslens.yaml"), "demo.yaml": demo_config()})
    assert len({r.alert for r in rules}) >= 25
    for rule in rules:
        row = f"| `{rule.alert}` | `{rule.severity}` | `{rule.for_}` |"
        assert row in text, f"{rule.config}: {rule.alert} not listed as {row}"
    runbooks = sections((ROOT / "docs" / "runbooks.md").read_text(encoding="utf-8"))
    classes = re.findall(r"^## (\S+)$", text, re.M)
    assert classes and all(c.lower() in runbooks for c in classes)
    for c in classes:
        assert f"(runbooks.md#{c.lower()})" in text
        # the meaning is the runbook's own first paragraph
        assert runbooks[c.lower()][1] in text


def test_a_custom_rule_is_listed_with_its_own_summary_and_runbook() -> None:
    config = parse(
        "version: 1\nproject: tiny\nalerts:\n  rules:\n"
        "    - {alert: QueueBacklog, expr: 'queue_depth > 100', for: 2m, severity: low,\n"
        "       summary: Queue backlog above 100, runbook_url: 'https://wiki.example.com/q'}\n"
    )
    base = {"tiny": config.alerts.runbook_base_url}
    text = render({"tiny": config}, "# Runbooks\n", base)
    assert "## QueueBacklog\n\nQueue backlog above 100\n" in text
    assert "| `tiny` | `QueueBacklog` | `low` | `2m` |" in text
    assert "- Runbook: https://wiki.example.com/q" in text
    assert "`alerts.rules[]`" in text


def test_the_catalogue_follows_the_runbooks() -> None:
    """A changed runbook paragraph changes the catalogue: the drift test can fail."""
    runbooks = (ROOT / "docs" / "runbooks.md").read_text(encoding="utf-8")
    configs = {"demo.yaml": demo_config()}
    base = {"demo.yaml": configs["demo.yaml"].alerts.runbook_base_url}
    before = render(configs, runbooks, base)
    after = render(configs, runbooks.replace("## ProbeDown\n\n", "## ProbeDown\n\nChanged. "), base)
    assert before != after and "\nChanged. " in after
