"""`alerts.max_for` caps every generated and custom alert's `for:`, and only that."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.config import ConfigError, Duration, load, parse
from agent.generate import rules
from agent.generate.rules.common import lasting


def _fors(config_text: str) -> dict[str, Duration]:
    config = parse(config_text, "opslens.yaml")
    return {
        f"{g['name']}/{r['alert']}/{i}": Duration.parse(r["for"])
        for g in rules.groups(config)
        for i, r in enumerate(g["rules"])
        if "alert" in r
    }


def _with_max_for(root: Path, value: str) -> str:
    doc = yaml.safe_load((root / "opslens.yaml").read_text(encoding="utf-8"))
    doc.setdefault("alerts", {})["max_for"] = value
    doc["alerts"]["rules"] = [
        {
            "alert": "QueueBacklog",
            "expr": "queue_depth > 100",
            "for": "1h",
            "severity": "low",
            "summary": "queue backs up",
        }
    ]
    return yaml.safe_dump(doc)


def test_max_for_caps_every_alert_and_keeps_shorter_ones(root: Path) -> None:
    plain = _fors((root / "opslens.yaml").read_text(encoding="utf-8"))
    capped = _fors(_with_max_for(root, "20s"))
    limit = Duration.parse("20s")
    # The reference config has alerts waiting longer than the cap: the test can fail.
    assert any(d > limit for d in plain.values())
    assert capped, "no alerts generated"
    custom = [k for k in capped if "/QueueBacklog/" in k]
    assert custom and all(capped[k] == limit for k in custom)
    for key, value in capped.items():
        if key in plain:
            assert value == min(plain[key], limit), key
        else:
            assert value <= limit, key


def test_max_for_unset_changes_nothing(root: Path) -> None:
    config = load(root / "opslens.yaml")
    assert config.alerts.max_for is None


@pytest.mark.parametrize("value", ["20", "soon", 20])
def test_max_for_must_be_a_duration(root: Path, value: object) -> None:
    doc = yaml.safe_load((root / "opslens.yaml").read_text(encoding="utf-8"))
    doc.setdefault("alerts", {})["max_for"] = value
    with pytest.raises(ConfigError, match="max_for"):
        parse(yaml.safe_dump(doc), "opslens.yaml")


def test_descriptions_say_how_long_the_capped_rule_waits(root: Path) -> None:
    capped = parse(_with_max_for(root, "20s"), "opslens.yaml")
    plain = load(root / "opslens.yaml")

    def description(config: object, name: str) -> str:
        return next(
            r["annotations"]["description"]
            for g in rules.groups(config)  # type: ignore[arg-type]
            for r in g["rules"]
            if r.get("alert") == name
        )

    assert "for 3 minutes" in description(plain, "ProbeDown")
    assert "for 20 seconds" in description(capped, "ProbeDown")
    assert "for 10 minutes" in description(plain, "HttpErrorRatioHigh")
    assert "for 20 seconds" in description(capped, "HttpErrorRatioHigh")
    assert "for 15 minutes" in description(plain, "HostCpuHigh")
    assert "minutes" not in description(capped, "HostCpuHigh")


@pytest.mark.parametrize(
    ("cap", "for_", "words"),
    [(None, "1m", "1 minute"), (None, "15m", "15 minutes"), ("20s", "3m", "20 seconds"),
     ("2m", "1m", "1 minute"), ("90s", "10m", "90 seconds")],
)  # fmt: skip
def test_lasting_in_words(root: Path, cap: str | None, for_: str, words: str) -> None:
    doc = yaml.safe_load((root / "opslens.yaml").read_text(encoding="utf-8"))
    if cap:
        doc.setdefault("alerts", {})["max_for"] = cap
    assert lasting(parse(yaml.safe_dump(doc), "opslens.yaml"), for_) == words
