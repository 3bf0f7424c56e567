"""A real Alertmanager on a generated config delivers each alert to exactly its escalation.

Receivers are real types pointed at local sinks: Slack, PagerDuty, SNS and a webhook at
an HTTP sink, email at an SMTP sink. What Alertmanager sends is recorded and asserted.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from agent.config import parse
from agent.generate import alertmanager, write
from agent.generate.naming import ALERTMANAGER_CONFIG_FILE
from tests.support.procs import alertmanager as run_alertmanager
from tests.support.sinks import HttpSink, SmtpSink, http_sink, smtp_sink
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

PAGER_KEY = "pd-routing-key-0123456789abcdef"
PAYMENTS_KEY = "pd-payments-key-fedcba9876543210"
HOOK_TOKEN = "hook-bearer-token-42"
TOPIC = "arn:aws:sns:us-east-1:123456789012:oncall"

CONFIG = """\
version: 1
project: routing-test
notify:
  receivers:
    pager: {{pagerduty: {{routing_key_file: "{secrets}/pager", url: "{sink}/pagerduty/pager"}}}}
    payments-pager:
      pagerduty: {{routing_key_file: "{secrets}/payments", url: "{sink}/pagerduty/payments-pager"}}
    chat: {{slack: {{api_url_file: "{secrets}/slack", channel: "#ops"}}}}
    mail: {{email: {{to: ops@example.com}}}}
    payments-mail: {{email: {{to: payments@example.com}}}}
    sms: {{sns: {{topic_arn: "{topic}", api_url: "{sink}/sns/sms"}}}}
    hook: {{webhook: {{url: "{sink}/webhook/hook", bearer_token_file: "{secrets}/hook"}}}}
  escalation:
    critical: [pager, chat, sms]
    high: [chat, mail]
    medium: [chat, hook]
    low: [mail]
  teams:
    payments:
      services: [checkout, checkout.v2]
      escalation: {{critical: [payments-pager, chat], low: [payments-mail]}}
  group_wait: 1s
  group_interval: 1s
  smtp: {{smarthost: "{smarthost}", from: opslens@example.com, require_tls: false}}
"""

# (alertname, severity, service) → receivers the escalation says, written out by hand.
EXPECTED: dict[tuple[str, str, str], set[str]] = {
    ("RouteCritical", "critical", "shop-api"): {"pager", "chat", "sms"},
    ("RouteHigh", "high", "shop-api"): {"chat", "mail"},
    ("RouteMedium", "medium", "shop-api"): {"chat", "hook"},
    ("RouteLow", "low", "shop-api"): {"mail"},
    ("RouteNoSeverity", "", "shop-api"): {"mail"},
    ("TeamCritical", "critical", "checkout"): {"payments-pager", "chat"},
    ("TeamHigh", "high", "checkout.v2"): {"chat", "mail"},
    ("TeamLow", "low", "checkout"): {"payments-mail"},
    # The critical inhibits the high of the same alertname and service, not the other service.
    ("Inhibited", "critical", "shop-api"): {"pager", "chat", "sms"},
    ("Inhibited", "high", "shop-api"): set(),
    ("Inhibited", "high", "cart"): {"chat", "mail"},
}

TITLE = re.compile(
    r"^\[FIRING:1\](?: (?P<severity>[A-Z]+))? (?P<alertname>\w+) \((?P<service>[\w.-]+)\)$"
)

Delivery = tuple[str, str, str, str]  # receiver, alertname, severity, service


@dataclass
class Stack:
    url: str
    http: HttpSink
    smtp: SmtpSink


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    # SNS signs its requests; these fake credentials reach Alertmanager through its env.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    with http_sink() as http, smtp_sink() as smtp:
        for name, value in {
            "pager": PAGER_KEY,
            "payments": PAYMENTS_KEY,
            "slack": f"{http.url}/slack/chat",
            "hook": HOOK_TOKEN,
        }.items():
            (secrets / name).write_text(value, encoding="utf-8")
        text = CONFIG.format(secrets=secrets, sink=http.url, topic=TOPIC, smarthost=smtp.smarthost)
        config = parse(text, "routing-test.yaml")
        write(alertmanager.render(config), tmp_path)
        generated = tmp_path / ALERTMANAGER_CONFIG_FILE
        for secret in (PAGER_KEY, PAYMENTS_KEY, HOOK_TOKEN):
            assert secret not in generated.read_text(encoding="utf-8")
        with run_alertmanager(generated, tmp_path) as url:
            yield Stack(url, http, smtp)


def post_alerts(url: str, alerts: list[dict[str, dict[str, str]]]) -> None:
    body = json.dumps(alerts).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _alert(alertname: str, severity: str, service: str) -> dict[str, dict[str, str]]:
    labels = {"alertname": alertname, "service": service}
    if severity:
        labels["severity"] = severity
    annotations = {
        "summary": f"{alertname} on {service}",
        "description": f"{alertname} fired for {service}.",
        "runbook_url": f"https://runbooks.example.com/#{alertname.lower()}",
    }
    return {"labels": labels, "annotations": annotations}


def _from_title(receiver: str, title: str) -> Delivery:
    match = TITLE.match(title)
    assert match, f"{receiver}: unexpected title {title!r}"
    severity = (match["severity"] or "").lower()
    return receiver, match["alertname"], severity, match["service"]


def deliveries(stack: Stack) -> list[Delivery]:
    """Every notification the sinks received, as (receiver, alertname, severity, service)."""
    out: list[Delivery] = []
    for request in stack.http.requests:
        kind, receiver = request.path.strip("/").split("/")
        if kind == "slack":
            out.append(_from_title(receiver, request.json()["attachments"][0]["title"]))
        elif kind == "pagerduty":
            out.append(_from_title(receiver, request.json()["payload"]["summary"]))
        elif kind == "sns":
            out.append(_from_title(receiver, parse_qs(request.body.decode())["Subject"][0]))
        elif kind == "webhook":
            for alert in request.json()["alerts"]:
                labels = alert["labels"]
                key = (labels["alertname"], labels.get("severity", ""), labels["service"])
                out.append((receiver, *key))
    by_address = {"ops@example.com": "mail", "payments@example.com": "payments-mail"}
    for mail in stack.smtp.mails:
        out.append(_from_title(by_address[str(mail.message["To"])], str(mail.message["Subject"])))
    return out


def routed(stack: Stack) -> list[Delivery]:
    """What Alertmanager holds for delivery: each receiver group's alerts not inhibited."""
    with urllib.request.urlopen(f"{stack.url}/api/v2/alerts/groups", timeout=5) as response:
        groups = json.load(response)
    out: list[Delivery] = []
    for group in groups:
        for alert in group["alerts"]:
            if alert["status"]["state"] == "active":
                labels = alert["labels"]
                key = (labels["alertname"], labels.get("severity", ""), labels["service"])
                out.append((group["receiver"]["name"], *key))
    return sorted(out)


def expected_deliveries() -> list[Delivery]:
    return sorted((r, *key) for key, receivers in EXPECTED.items() for r in receivers)


def test_each_severity_and_team_reaches_exactly_its_receivers(stack: Stack) -> None:
    post_alerts(stack.url, [_alert(*key) for key in EXPECTED])
    want = expected_deliveries()
    wait_until(
        lambda: set(deliveries(stack)) >= set(want),
        timeout=20,
        what=lambda: f"{want}; got {sorted(deliveries(stack))}",
    )
    # Any further notification could only come from an alert a group holds un-inhibited:
    # when Alertmanager holds exactly what arrived, nothing else is on its way.
    assert routed(stack) == want
    assert sorted(deliveries(stack)) == want


def test_payloads_carry_what_the_receivers_need(stack: Stack) -> None:
    post_alerts(stack.url, [_alert("PayloadCritical", "critical", "shop-api")])
    post_alerts(stack.url, [_alert("PayloadMedium", "medium", "shop-api")])
    post_alerts(stack.url, [_alert("PayloadLow", "low", "checkout")])
    http, smtp = stack.http, stack.smtp
    wait_until(lambda: len(http.to("/slack/chat")) >= 2 and http.to("/pagerduty/pager"), 20)
    wait_until(
        lambda: http.to("/sns/sms") and http.to("/webhook/hook") and smtp.mails,
        20,
        what=lambda: f"sns, webhook and mail; got {deliveries(stack)}",
    )

    slack = {r.json()["attachments"][0]["title"]: r.json() for r in http.to("/slack/chat")}
    critical = slack["[FIRING:1] CRITICAL PayloadCritical (shop-api)"]
    assert critical["channel"] == "#ops"
    attachment = critical["attachments"][0]
    assert attachment["color"] == "danger"
    assert attachment["title_link"] == "https://runbooks.example.com/#payloadcritical"
    assert "PayloadCritical on shop-api\nPayloadCritical fired for shop-api." in attachment["text"]
    assert "Runbook: https://runbooks.example.com/#payloadcritical" in attachment["text"]
    assert slack["[FIRING:1] MEDIUM PayloadMedium (shop-api)"]["attachments"][0]["color"] == (
        "warning"
    )

    event = http.to("/pagerduty/pager")[0].json()
    assert event["routing_key"] == PAGER_KEY  # read by Alertmanager from routing_key_file
    assert event["event_action"] == "trigger"
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["summary"] == "[FIRING:1] CRITICAL PayloadCritical (shop-api)"
    assert event["payload"]["component"] == "shop-api"
    assert event["payload"]["custom_details"]["runbook_url"] == (
        "https://runbooks.example.com/#payloadcritical"
    )

    publish = parse_qs(http.to("/sns/sms")[0].body.decode())
    assert publish["Action"] == ["Publish"]
    assert publish["TopicArn"] == [TOPIC]
    assert publish["Message"] == [
        "[FIRING:1] CRITICAL PayloadCritical (shop-api): PayloadCritical on shop-api"
    ]

    hook = http.to("/webhook/hook")[0]
    assert hook.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert hook.json()["receiver"] == "hook"
    assert hook.json()["commonLabels"]["alertname"] == "PayloadMedium"

    mail = smtp.mails[0]
    assert mail.rcpt_to == ["payments@example.com"]
    assert mail.mail_from == "opslens@example.com"
    assert mail.message["To"] == "payments@example.com"
    assert mail.message["Subject"] == "[FIRING:1] LOW PayloadLow (checkout)"
    plain = mail.message.get_body(("plain",))
    assert plain is not None
    assert "PayloadLow on checkout" in plain.get_content()
