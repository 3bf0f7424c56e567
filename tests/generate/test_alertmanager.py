"""The Alertmanager renderer: golden output, the routing tree's shape, no secrets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config import Config, load, parse
from agent.config.notify import INCIDENTS_RECEIVER
from agent.generate import alertmanager, serialise
from agent.generate.artefact import HEADER
from agent.generate.naming import ALERTMANAGER_CONFIG_FILE, alertmanager_template_file

# A second config exercising what the reference one does not: webhook, Opsgenie, SMTP
# auth, several services per team, a team without overrides, no inhibition.
SMALL = """\
version: 1
project: small
notify:
  receivers:
    oncall: {opsgenie: {api_key_file: /etc/alertmanager/secrets/opsgenie_key}}
    relay:
      webhook:
        url: "https://relay.example.com/alerts"
        bearer_token_file: /etc/alertmanager/secrets/relay_token
    chat: {slack: {api_url_file: /etc/alertmanager/secrets/slack_url}}
    mail: {email: {to: "sre@example.com, lead@example.com"}}
    web-pager: {pagerduty: {routing_key_file: /etc/alertmanager/secrets/web_pd}}
  escalation: {critical: [oncall, relay], high: [chat], medium: [chat], low: [mail]}
  teams:
    web:
      services: [storefront, storefront.v2]
      escalation: {critical: [web-pager, chat], medium: [mail]}
    data: {services: [etl]}
  group_by: [alertname, cluster]
  group_wait: 10s
  repeat_interval: {critical: 30m, low: 7d}
  inhibit: false
  smtp:
    smarthost: "mail.example.com:465"
    from: alerts@example.com
    auth_username: alerts
    auth_password_file: /etc/alertmanager/secrets/smtp_password
"""


@pytest.fixture
def reference(root: Path) -> Config:
    return load(root / "opslens.yaml")


@pytest.fixture
def small() -> Config:
    return parse(SMALL, "small.yaml")


def rendered(config: Config) -> dict[str, str]:
    return {a.path: serialise(a) for a in alertmanager.render(config)}


def test_reference_matches_golden(reference: Config, golden: Callable[[str, str], None]) -> None:
    golden("alertmanager/reference.alertmanager.yml", rendered(reference)[ALERTMANAGER_CONFIG_FILE])


def test_small_matches_golden(small: Config, golden: Callable[[str, str], None]) -> None:
    golden("alertmanager/small.alertmanager.yml", rendered(small)[ALERTMANAGER_CONFIG_FILE])


def test_committed_files_match_the_reference_config(reference: Config, root: Path) -> None:
    for artefact in alertmanager.render(reference):
        committed = (root / artefact.path).read_text(encoding="utf-8")
        assert committed == serialise(artefact), f"{artefact.path}: run `opslens generate`"


def test_both_files_are_headed_do_not_edit(small: Config) -> None:
    files = rendered(small)
    assert set(files) == {ALERTMANAGER_CONFIG_FILE, alertmanager_template_file("opslens.tmpl")}
    assert all(HEADER in text.splitlines()[0] for text in files.values())


def _routes(config: Config) -> list[dict[str, Any]]:
    routes = alertmanager.alertmanager_config(config)["route"]["routes"]
    return [r for r in routes if r.get("receiver") != INCIDENTS_RECEIVER]


def test_incidents_route_comes_first_and_continues(reference: Config) -> None:
    first = alertmanager.alertmanager_config(reference)["route"]["routes"][0]
    assert first == {
        "receiver": INCIDENTS_RECEIVER,
        "matchers": ['severity="critical"'],
        "continue": True,
    }
    receivers = alertmanager.alertmanager_config(reference)["receivers"]
    webhook = next(r for r in receivers if r["name"] == INCIDENTS_RECEIVER)["webhook_configs"][0]
    assert webhook == {
        "url": "http://agent:10470/webhooks/alertmanager",
        "send_resolved": True,
        "http_config": {
            "authorization": {"credentials_file": "/run/secrets/opslens_alertmanager_token"}
        },
    }
    cases = dict((tuple(sorted(k.items())), v) for k, v in alertmanager.route_cases(reference))
    assert cases[(("severity", "critical"),)] == [INCIDENTS_RECEIVER, "pager", "chat", "sms"]
    assert cases[(("severity", "high"),)] == ["chat", "mail"]


def test_no_incidents_route_when_disabled(small: Config) -> None:
    doc = alertmanager.alertmanager_config(small)
    assert INCIDENTS_RECEIVER not in {r["name"] for r in doc["receivers"]}


def test_severity_fans_out_through_continuing_siblings(reference: Config) -> None:
    critical = [r for r in _routes(reference) if r.get("matchers") == ['severity="critical"']]
    assert [r["receiver"] for r in critical] == ["pager", "chat", "sms"]
    assert [r.get("continue", False) for r in critical] == [True, True, False]
    assert {r["repeat_interval"] for r in critical} == {"1h"}


def test_team_routes_come_first_and_fall_back_to_the_default(reference: Config) -> None:
    team = _routes(reference)[0]
    assert team["matchers"] == ['service="checkout"']
    assert [(r.get("matchers"), r["receiver"]) for r in team["routes"]] == [
        (['severity="critical"'], "payments-pager"),
        (['severity="critical"'], "chat"),
        (['severity="high"'], "chat"),
        (['severity="high"'], "mail"),
        (['severity="medium"'], "chat"),
        (['severity="low"'], "mail"),
        (None, "mail"),
    ]


def test_several_services_match_by_escaped_regex_and_plain_teams_add_no_route(
    small: Config,
) -> None:
    teams = [r for r in _routes(small) if "routes" in r]
    assert [t["matchers"] for t in teams] == [['service=~"storefront|storefront\\.v2"']]


def test_alerts_without_a_known_severity_reach_the_low_escalation(reference: Config) -> None:
    last = _routes(reference)[-1]
    assert last == {"receiver": "mail", "repeat_interval": "3d"}


def test_root_catches_with_null_and_takes_the_timings(small: Config) -> None:
    root = alertmanager.alertmanager_config(small)["route"]
    assert root["receiver"] == "null"
    assert root["group_by"] == ["alertname", "cluster"]
    assert (root["group_wait"], root["group_interval"], root["repeat_interval"]) == (
        "10s",
        "5m",
        "1w",
    )


def test_without_receivers_everything_goes_to_null() -> None:
    doc = alertmanager.alertmanager_config(parse("version: 1\nproject: bare\n"))
    assert "routes" not in doc["route"]
    assert doc["receivers"] == [{"name": "null"}]
    assert "global" not in doc  # no email receiver, no SMTP settings


def test_inhibit_rules_silence_every_lower_severity(reference: Config, small: Config) -> None:
    rules = alertmanager.alertmanager_config(reference)["inhibit_rules"]
    assert [(r["source_matchers"], r["target_matchers"]) for r in rules] == [
        (['severity="critical"'], ['severity=~"high|medium|low"']),
        (['severity="high"'], ['severity=~"medium|low"']),
        (['severity="medium"'], ['severity="low"']),
    ]
    assert all(r["equal"] == ["alertname", "service"] for r in rules)
    assert "inhibit_rules" not in alertmanager.alertmanager_config(small)


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def test_receivers_reference_secrets_only_by_file(small: Config, reference: Config) -> None:
    inline = {"routing_key", "service_key", "api_url", "api_key", "auth_password", "bot_token"}
    inline |= {"smtp_auth_password", "credentials", "webhook_url", "password", "bearer_token"}
    for config in (small, reference):
        doc = alertmanager.alertmanager_config(config)
        assert not [k for k, _ in _walk(doc) if k in inline]
    relay = next(
        r for r in alertmanager.alertmanager_config(small)["receivers"] if r["name"] == "relay"
    )
    assert relay["webhook_configs"][0]["http_config"] == {
        "authorization": {"credentials_file": "/etc/alertmanager/secrets/relay_token"}
    }


def test_sns_signs_in_the_topic_region() -> None:
    config = parse(
        "version: 1\nproject: p\nnotify:\n  receivers:\n"
        "    sms: {sns: {topic_arn: 'arn:aws:sns:eu-west-1:123456789012:oncall'}}\n"
        "  escalation: {critical: [sms], high: [sms], medium: [sms], low: [sms]}\n"
    )
    receiver = alertmanager.alertmanager_config(config)["receivers"][1]
    assert receiver["sns_configs"][0]["sigv4"] == {"region": "eu-west-1"}


def test_route_cases_cover_every_severity_and_team(reference: Config) -> None:
    assert alertmanager.route_cases(reference) == [
        ({"severity": "critical"}, ["opslens-incidents", "pager", "chat", "sms"]),
        ({"severity": "high"}, ["chat", "mail"]),
        ({"severity": "medium"}, ["chat"]),
        ({"severity": "low"}, ["mail"]),
        ({"alertname": "SeverityMissing"}, ["mail"]),
        (
            {"service": "checkout", "severity": "critical"},
            ["opslens-incidents", "payments-pager", "chat"],
        ),
        ({"service": "checkout", "severity": "high"}, ["chat", "mail"]),
        ({"service": "checkout", "severity": "medium"}, ["chat"]),
        ({"service": "checkout", "severity": "low"}, ["mail"]),
    ]


def test_route_cases_without_receivers_expect_null() -> None:
    cases = alertmanager.route_cases(parse("version: 1\nproject: bare\n"))
    assert {tuple(receivers) for _, receivers in cases} == {("null",)}


def test_output_is_plain_yaml_that_round_trips(small: Config) -> None:
    text = rendered(small)[ALERTMANAGER_CONFIG_FILE]
    assert yaml.safe_load(text) == alertmanager.alertmanager_config(small)
