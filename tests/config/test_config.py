"""The config loads, defaults are right, durations round-trip, the starter is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli.init import starter_text
from agent.config import ConfigError, Duration, load, parse


@pytest.mark.parametrize(
    ("text", "seconds", "prom"),
    [
        ("30s", 30, "30s"),
        ("5m", 300, "5m"),
        ("1h30m", 5400, "1h30m"),
        ("30d", 2592000, "30d"),
        ("2w", 1209600, "2w"),
        ("90d", 7776000, "90d"),
        ("500ms", 0.5, "500ms"),
        ("36h", 129600, "1d12h"),
    ],
)
def test_duration_parses_and_prints(text: str, seconds: float, prom: str) -> None:
    d = Duration.parse(text)
    assert d.total_seconds() == seconds
    assert d.prom() == prom
    assert Duration.parse(d.prom()) == d


@pytest.mark.parametrize("bad", ["", "5", "5x", "m5", "1.5h", "-5m"])
def test_duration_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        Duration.parse(bad)


def test_reference_config_loads(root: Path) -> None:
    config = load(root / "opslens.yaml")
    assert config.project == "acme"
    assert config.notify.escalation["critical"] == ["pager", "chat", "sms"]
    assert config.notify.teams["payments"].services == ["checkout"]
    assert [s.type for s in config.dora.sources] == ["github", "gitlab", "git", "events"]
    assert config.cost.poll_interval.prom() == "6h"


def test_minimal_config_has_defaults() -> None:
    config = parse("version: 1\nproject: tiny\n")
    assert config.agent.listen == "127.0.0.1:10470"
    assert config.cost.max_series == 5000
    assert config.dora.environments == ["production"]
    assert config.dora.failure_window is None  # no time limit on attribution by default
    assert config.notify.escalation == {}
    assert config.dashboards == [
        "executive",
        "cost",
        "dora",
        "application",
        "infrastructure",
        "alerts",
    ]


def test_default_escalation_with_receivers() -> None:
    config = parse(
        "version: 1\nproject: p\nnotify:\n  receivers:\n"
        "    pager: {pagerduty: {routing_key_file: /s/pd}}\n"
        "    chat: {slack: {api_url_file: /s/slack}}\n"
        "    sms: {sns: {topic_arn: 'arn:aws:sns:us-east-1:123456789012:oncall'}}\n"
        "    mail: {email: {to: ops@example.com}}\n"
    )
    assert config.notify.escalation == {
        "critical": ["pager", "chat", "sms"],
        "high": ["chat", "mail"],
        "medium": ["chat"],
        "low": ["mail"],
    }


def test_config_is_immutable() -> None:
    config = parse("version: 1\nproject: tiny\n")
    with pytest.raises(Exception, match="frozen"):
        config.project = "other"  # type: ignore[misc]


def test_starter_config_is_valid() -> None:
    config = parse(starter_text(), "starter.yaml")
    assert config.notify.escalation["critical"] == ["pager", "chat"]


def test_errors_are_sorted_by_line_and_all_reported() -> None:
    with pytest.raises(Exception) as caught:
        parse("version: 1\nproject: p\nagent: {listen: nope}\ncost: {max_series: 1}\n", "c.yml")
    assert str(caught.value).splitlines() == [
        "c.yml:3: agent.listen: 'nope' is not HOST:PORT",
        "c.yml:4: cost.max_series: Input should be greater than or equal to 10",
    ]


SLO_90D = """\
version: 1
project: acme
slos:
  - name: availability
    service: shop
    objective: 99.9
    window: 90d
    errors: 'http_requests_total{status=~"5.."}'
    total: http_requests_total
"""


def test_retention_must_cover_the_longest_slo_window_unless_opted_out() -> None:
    with pytest.raises(ConfigError, match=r"window 90d is longer than prometheus\.retention"):
        parse(SLO_90D)
    assert parse(SLO_90D + "prometheus: {retention: 90d}\n").prometheus.retention.days == 90
    # A Thanos or Mimir ruler evaluates the rules over long-term storage: opt out.
    remote = "prometheus:\n  retention_covers_slos: false\n  remote_write: [{url: 'https://m/'}]\n"
    config = parse(SLO_90D + remote)
    assert config.prometheus.retention.days == 15 and not config.prometheus.retention_covers_slos


def test_reference_and_starter_configs_retain_their_slo_windows(root: Path) -> None:
    for config in (load(root / "opslens.yaml"), parse(starter_text())):
        assert config.slos
        assert config.prometheus.retention >= max(s.window for s in config.slos)
