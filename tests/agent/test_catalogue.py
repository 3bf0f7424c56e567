"""The metric catalogue in README.md, docs/metrics.md and exporters/catalogue.py stays one."""

from __future__ import annotations

import re
from pathlib import Path

from exporters import catalogue


def readme_families(root: Path) -> dict[str, list[str]]:
    text = (root / "README.md").read_text(encoding="utf-8")
    section = text.split("## Metrics", 1)[1]
    out = {}
    for line in section.splitlines():
        match = re.match(r"^\| (self|cost|dora|app) \| (.*) \|$", line)
        if match:
            out[match.group(1)] = re.findall(r"`([a-z_]+)`", match.group(2))
    return out


def test_readme_lists_exactly_the_catalogue(root: Path) -> None:
    families = readme_families(root)
    assert families["self"] == list(catalogue.SELF)
    assert families["cost"] == list(catalogue.COST)
    assert families["dora"] == list(catalogue.DORA)
    assert families["app"] == list(catalogue.APP)


def test_catalogue_names_follow_conventions() -> None:
    assert len(set(catalogue.ALL)) == len(catalogue.ALL)
    for name in catalogue.ALL:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert not name.endswith("_created"), name


def test_metrics_doc_describes_exactly_the_catalogue(root: Path) -> None:
    # Every `| \`family\` | type | ... |` row of docs/metrics.md is an exposed family, and
    # every family has its row: the reference cannot describe a metric that does not exist.
    text = (root / "docs" / "metrics.md").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) > 2 and cells[1] in ("gauge", "counter", "histogram"):
            rows += re.findall(r"`([a-z_]+)`", cells[0])
    assert len(rows) == len(set(rows))
    assert set(rows) == set(catalogue.ALL)
