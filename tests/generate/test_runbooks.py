"""Every generated alert's runbook_url points at a section of docs/runbooks.md."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from agent.config import load
from agent.generate import render_all


def test_every_alert_has_a_runbook_section(root: Path) -> None:
    text = (root / "docs" / "runbooks.md").read_text(encoding="utf-8")
    anchors = {h.lower() for h in re.findall(r"^## (\w+)$", text, re.M)}
    config = load(root / "opslens.yaml")
    seen = 0
    for artefact in render_all(config):
        if not artefact.path.endswith(".rules.yml"):
            continue
        for group in yaml.safe_load(yaml.safe_dump(artefact.content))["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                seen += 1
                url = rule["annotations"]["runbook_url"]
                assert url.startswith(config.alerts.runbook_base_url + "#"), url
                assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: {url}"
    assert seen >= 20
