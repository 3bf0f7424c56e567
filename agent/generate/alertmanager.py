"""`alertmanager/alertmanager.yml` and its template: routing tree, inhibit rules, receivers.

The tree: team routes first (matched on `service`), then the default escalation. Each
severity fans out to its receivers through sibling routes with `continue: true`, the last
one stopping, so amtool resolves receivers in escalation order. Alerts with no known
severity fall through to the low escalation: an SRE would rather get a mail about a
mislabelled alert than lose it. Only fields Alertmanager 0.25 accepts are written.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from agent.config import SEVERITIES, Config, Severity
from agent.config.notify import (
    INCIDENTS_RECEIVER,
    NULL_RECEIVER,
    NotifyConfig,
    Receiver,
    Team,
)

from .artefact import Artefact
from .hosts import COMPOSE, Hosts
from .naming import ALERTMANAGER_CONFIG_FILE, alertmanager_template_file

# Alertmanager resolves template globs relative to the config file's folder.
TEMPLATE_GLOB = "templates/*.tmpl"
# The label set route_cases uses for an alert that carries no severity.
NO_SEVERITY = {"alertname": "SeverityMissing"}

Route = dict[str, Any]
Case = tuple[dict[str, str], list[str]]


def _tmpl(name: str) -> str:
    """A call of one of the definitions in alertmanager.tmpl."""
    return f'{{{{ template "opslens.{name}" . }}}}'


def _receiver(name: str, receiver: Receiver) -> dict[str, Any]:
    """One Alertmanager receiver; secrets only as *_file paths."""
    out: dict[str, Any] = {"name": name}
    if receiver.pagerduty:
        pd: dict[str, Any] = {
            "routing_key_file": receiver.pagerduty.routing_key_file,
            "description": _tmpl("title"),
            "severity": _tmpl("pagerduty.severity"),
            "component": "{{ .CommonLabels.service }}",
            "group": "{{ .CommonLabels.alertname }}",
            "details": {
                "summary": "{{ .CommonAnnotations.summary }}",
                "runbook_url": "{{ .CommonAnnotations.runbook_url }}",
            },
        }
        if receiver.pagerduty.url:
            pd["url"] = receiver.pagerduty.url
        out["pagerduty_configs"] = [pd]
    elif receiver.slack:
        slack: dict[str, Any] = {"api_url_file": receiver.slack.api_url_file}
        if receiver.slack.channel:
            slack["channel"] = receiver.slack.channel
        slack |= {
            "send_resolved": True,
            "color": _tmpl("slack.color"),
            "title": _tmpl("title"),
            "title_link": "{{ .CommonAnnotations.runbook_url }}",
            "text": _tmpl("text"),
        }
        out["slack_configs"] = [slack]
    elif receiver.email:
        out["email_configs"] = [
            {
                "to": receiver.email.to,
                "send_resolved": True,
                "headers": {"Subject": _tmpl("title")},
                "text": _tmpl("text"),
            }
        ]
    elif receiver.sns:
        sns: dict[str, Any] = {"topic_arn": receiver.sns.topic_arn}
        if receiver.sns.api_url:
            sns["api_url"] = receiver.sns.api_url
        sns |= {
            "sigv4": {"region": receiver.sns.signing_region},
            "subject": _tmpl("title"),
            "message": _tmpl("short"),
        }
        out["sns_configs"] = [sns]
    elif receiver.webhook:
        hook: dict[str, Any] = {"url": receiver.webhook.url, "send_resolved": True}
        if receiver.webhook.bearer_token_file:
            hook["http_config"] = {
                "authorization": {"credentials_file": receiver.webhook.bearer_token_file}
            }
        out["webhook_configs"] = [hook]
    elif receiver.opsgenie:
        genie: dict[str, Any] = {"api_key_file": receiver.opsgenie.api_key_file}
        if receiver.opsgenie.api_url:
            genie["api_url"] = receiver.opsgenie.api_url
        genie |= {
            "message": _tmpl("title"),
            "description": _tmpl("text"),
            "priority": _tmpl("opsgenie.priority"),
        }
        out["opsgenie_configs"] = [genie]
    else:  # telegram and discord are rejected by config validation for Alertmanager 0.25
        raise ValueError(f"receiver {name!r}: {receiver.kind} is not supported")
    return out


def _fanout(matchers: list[str], names: list[str], repeat: str) -> list[Route]:
    """Sibling routes notifying every receiver in order; the last one ends the walk."""
    routes: list[Route] = []
    for i, name in enumerate(names):
        route: Route = {"receiver": name}
        if matchers:
            route["matchers"] = list(matchers)
        route["repeat_interval"] = repeat
        if i < len(names) - 1:
            route["continue"] = True
        routes.append(route)
    return routes


def _chain(notify: NotifyConfig, team: Team | None = None) -> dict[Severity, list[str]]:
    """Receivers per severity: a team's overrides over the default escalation."""
    return {**notify.escalation, **(team.escalation if team else {})}


def _escalation_routes(notify: NotifyConfig, chain: dict[Severity, list[str]]) -> list[Route]:
    """Per-severity fan-outs, then a catch-all for alerts without a known severity."""
    routes: list[Route] = []
    for severity in SEVERITIES:
        if chain.get(severity):
            repeat = getattr(notify.repeat_interval, severity).prom()
            routes += _fanout([f'severity="{severity}"'], chain[severity], repeat)
    if chain.get("low"):
        routes += _fanout([], chain["low"], notify.repeat_interval.low.prom())
    return routes


def _service_matcher(services: list[str]) -> str:
    if len(services) == 1:
        return f'service="{services[0]}"'
    return 'service=~"{}"'.format("|".join(s.replace(".", "\\.") for s in services))


def route_tree(notify: NotifyConfig) -> Route:
    """The root route: team subtrees first, then the default escalation."""
    routes: list[Route] = []
    for team in notify.teams.values():
        # A team without overrides routes exactly like the default escalation.
        if team.escalation and (subroutes := _escalation_routes(notify, _chain(notify, team))):
            routes.append({"matchers": [_service_matcher(team.services)], "routes": subroutes})
    routes += _escalation_routes(notify, _chain(notify))
    root: Route = {
        "receiver": NULL_RECEIVER,
        "group_by": list(notify.group_by),
        "group_wait": notify.group_wait.prom(),
        "group_interval": notify.group_interval.prom(),
        "repeat_interval": notify.repeat_interval.low.prom(),
    }
    if routes:
        root["routes"] = routes
    return root


def inhibit_rules(notify: NotifyConfig) -> list[dict[str, Any]]:
    """Each severity silences every lower one for the same alertname and service."""
    if not notify.inhibit:
        return []
    rules = []
    for i, severity in enumerate(SEVERITIES[:-1]):
        lower = SEVERITIES[i + 1 :]
        target = f'severity="{lower[0]}"' if len(lower) == 1 else f'severity=~"{"|".join(lower)}"'
        rules.append(
            {
                "source_matchers": [f'severity="{severity}"'],
                "target_matchers": [target],
                "equal": ["alertname", "service"],
            }
        )
    return rules


def _global(config: Config) -> dict[str, Any]:
    kinds = {r.kind for r in config.notify.receivers.values()}
    if "email" not in kinds:
        return {}
    smtp = config.notify.smtp
    out: dict[str, Any] = {"smtp_smarthost": smtp.smarthost, "smtp_from": smtp.sender}
    if smtp.auth_username:
        out["smtp_auth_username"] = smtp.auth_username
    if smtp.auth_password_file:
        out["smtp_auth_password_file"] = smtp.auth_password_file
    out["smtp_require_tls"] = smtp.require_tls
    return out


def incident_token_file(config: Config, hosts: Hosts) -> str | None:
    """The file holding the bearer token of the agent's incident webhook, if it has one."""
    env = config.dora.incidents.alertmanager.token_env
    return f"{hosts.secrets_dir}/{env.lower()}" if env else None


def _incidents(config: Config, hosts: Hosts) -> tuple[Route, dict[str, Any]] | None:
    """Route and receiver feeding matching alerts to the agent as DORA incidents.

    First among the routes and `continue: true`, so every matching alert still reaches
    the escalation: incidents are recorded in addition to paging, never instead of it.
    """
    incidents = config.dora.incidents.alertmanager
    if not incidents.enabled:
        return None
    webhook: dict[str, Any] = {
        "url": f"http://{hosts.agent}/webhooks/alertmanager",
        "send_resolved": True,
    }
    if token_file := incident_token_file(config, hosts):
        webhook["http_config"] = {"authorization": {"credentials_file": token_file}}
    route: Route = {"receiver": INCIDENTS_RECEIVER}
    if incidents.match:
        route["matchers"] = [f'{k}="{v}"' for k, v in incidents.match.items()]
    route["continue"] = True
    return route, {"name": INCIDENTS_RECEIVER, "webhook_configs": [webhook]}


def alertmanager_config(config: Config, hosts: Hosts = COMPOSE) -> dict[str, Any]:
    """Build the alertmanager.yml document."""
    notify = config.notify
    out: dict[str, Any] = {}
    if glob := _global(config):
        out["global"] = glob
    out["templates"] = [TEMPLATE_GLOB]
    out["route"] = route_tree(notify)
    incidents = _incidents(config, hosts)
    if incidents:
        out["route"]["routes"] = [incidents[0], *out["route"].get("routes", [])]
    if rules := inhibit_rules(notify):
        out["inhibit_rules"] = rules
    out["receivers"] = [
        {"name": NULL_RECEIVER},
        *([incidents[1]] if incidents else []),
        *(_receiver(name, r) for name, r in notify.receivers.items()),
    ]
    return out


def templates() -> dict[str, str]:
    """Return the Go template files that TEMPLATE_GLOB loads, by file name."""
    text = resources.files(__package__).joinpath("alertmanager.tmpl").read_text(encoding="utf-8")
    return {"opslens.tmpl": text}


def route_cases(config: Config) -> list[Case]:
    """(labels, receivers in the order amtool prints them) for every severity and team."""
    notify = config.notify

    incidents = config.dora.incidents.alertmanager

    def with_incidents(labels: dict[str, str], receivers: list[str]) -> Case:
        fed = incidents.enabled and all(labels.get(k) == v for k, v in incidents.match.items())
        return labels, [INCIDENTS_RECEIVER, *receivers] if fed else receivers

    def expect(chain: dict[Severity, list[str]], severity: Severity) -> list[str]:
        return list(chain.get(severity) or [NULL_RECEIVER])

    default = _chain(notify)
    cases: list[Case] = [with_incidents({"severity": s}, expect(default, s)) for s in SEVERITIES]
    # No known severity: the catch-all routes to the low escalation.
    cases.append(with_incidents(dict(NO_SEVERITY), expect(default, "low")))
    for team in notify.teams.values():
        chain = _chain(notify, team)
        service = team.services[0]
        cases += [
            with_incidents({"service": service, "severity": s}, expect(chain, s))
            for s in SEVERITIES
        ]
    return cases


def render(config: Config, hosts: Hosts = COMPOSE) -> list[Artefact]:
    return [
        Artefact(ALERTMANAGER_CONFIG_FILE, alertmanager_config(config, hosts)),
        *(
            Artefact(alertmanager_template_file(name), text, kind="text")
            for name, text in templates().items()
        ),
    ]
