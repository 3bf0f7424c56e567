"""HTTP/TLS probes: endpoint down, slow, certificate about to expire."""

from __future__ import annotations

from agent.config import Config

from ..naming import rule_group
from .common import AGENT, Case, Check, Pack, alert, fired, gauge, num, selector

DAY = 86400


def build(config: Config) -> Pack | None:
    pack = config.alerts.packs.probes
    if not pack.enabled:
        return None
    sev = pack.severity
    days = pack.cert_expiry_days
    down = alert(
        config,
        "ProbeDown",
        "probe_success == 0",
        "3m",
        sev,
        "Probe {{ $labels.probe }} is failing",
        "Probe {{ $labels.probe }} has failed every attempt "
        "for 3 minutes (down, wrong status or TLS error).",
    )
    slow = alert(
        config,
        "ProbeSlow",
        f"probe_duration_seconds > {num(pack.slow_seconds)}",
        "10m",
        sev,
        "Probe {{ $labels.probe }} takes more than " + f"{num(pack.slow_seconds)}s",
        "Probe {{ $labels.probe }} has taken more than "
        f"{num(pack.slow_seconds)}s for 10 minutes.",
    )
    cert = alert(
        config,
        "ProbeCertificateExpiring",
        # No TLS, no expiry: the probe reports nothing or 0, which is not "expiring".
        "probe_ssl_earliest_cert_expiry > 0\n"
        f"and\nprobe_ssl_earliest_cert_expiry - time() < {days * DAY}",
        "1h",
        sev,
        "TLS certificate of {{ $labels.probe }} expires within " + f"{days} days",
        "The earliest certificate in the chain served to probe {{ $labels.probe }} expires "
        f"in less than {days} days: renew it.",
    )
    labels = {**AGENT, "probe": "shop-health", "service": "shop"}
    first = next(iter(config.app.probes), None)
    if first is not None:
        labels = {**AGENT, "probe": first.name}
        if first.service:
            labels["service"] = first.service

    def series(success: float, seconds: float, expiry: float) -> list[tuple[str, str]]:
        return [
            (selector("probe_success", labels), gauge(success, 150)),
            (selector("probe_duration_seconds", labels), gauge(seconds, 150)),
            (selector("probe_ssl_earliest_cert_expiry", labels), gauge(expiry, 150)),
        ]

    names = ("ProbeDown", "ProbeSlow", "ProbeCertificateExpiring")
    cases = [
        Case(
            "probes: down, slow, certificate expiring",
            # Probe times start at 0, so an expiry timestamp is also the time left.
            series(0, pack.slow_seconds * 2, days * DAY / 2),
            [
                Check("ProbeDown", "2h", [fired(down, labels)]),
                Check("ProbeSlow", "2h", [fired(slow, labels)]),
                Check("ProbeCertificateExpiring", "2h", [fired(cert, labels)]),
            ],
        ),
        Case(
            "probes: up, fast, certificate far from expiry stay silent",
            series(1, pack.slow_seconds / 2, days * DAY * 3),
            [Check(name, "2h") for name in names],
        ),
    ]
    return Pack("probes", [{"name": rule_group("probes"), "rules": [down, slow, cert]}], cases)
