"""HTTP/TLS probes: endpoint down, slow, certificate about to expire."""

from __future__ import annotations

from agent.config import Config

from ..naming import PROBE_CERTIFICATE_EXPIRING, PROBE_DOWN, PROBE_SLOW, rule_group
from .common import AGENT, Case, Check, Group, Rule, alert, fired, gauge, lasting, num, selector

NAME = "probes"
DAY = 86400


def alerts(config: Config) -> tuple[Rule, Rule, Rule]:
    """Build the down, slow and certificate-expiring alerts."""
    pack = config.alerts.packs.probes
    sev = pack.severity
    days = pack.cert_expiry_days
    down = alert(
        config,
        PROBE_DOWN,
        "probe_success == 0",
        "3m",
        sev,
        "Probe {{ $labels.probe }} is failing",
        "Probe {{ $labels.probe }} has failed every attempt "
        f"for {lasting(config, '3m')} (down, wrong status or TLS error).",
    )
    slow = alert(
        config,
        PROBE_SLOW,
        f"probe_duration_seconds > {num(pack.slow_seconds)}",
        "10m",
        sev,
        "Probe {{ $labels.probe }} takes more than " + f"{num(pack.slow_seconds)}s",
        "Probe {{ $labels.probe }} has taken more than "
        f"{num(pack.slow_seconds)}s for {lasting(config, '10m')}.",
    )
    cert = alert(
        config,
        PROBE_CERTIFICATE_EXPIRING,
        # No TLS, no expiry: the probe reports nothing or 0, which is not "expiring".
        "probe_ssl_earliest_cert_expiry > 0\n"
        f"and\nprobe_ssl_earliest_cert_expiry - time() < {days * DAY}",
        "1h",
        sev,
        "TLS certificate of {{ $labels.probe }} expires within " + f"{days} days",
        "The earliest certificate in the chain served to probe {{ $labels.probe }} expires "
        f"in less than {days} days: renew it.",
    )
    return down, slow, cert


def groups(config: Config) -> list[Group]:
    """Build the pack's rule group; none when the pack is off."""
    if not config.alerts.packs.probes.enabled:
        return []
    return [{"name": rule_group(NAME), "rules": list(alerts(config))}]


def cases(config: Config) -> list[Case]:
    """Build the promtool cases: a failing probe fires all three, a healthy one none."""
    pack = config.alerts.packs.probes
    days = pack.cert_expiry_days
    down, slow, cert = alerts(config)
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

    return [
        Case(
            "probes: down, slow, certificate expiring",
            # Probe times start at 0, so an expiry timestamp is also the time left.
            series(0, pack.slow_seconds * 2, days * DAY / 2),
            [
                Check(PROBE_DOWN, "2h", [fired(down, labels)]),
                Check(PROBE_SLOW, "2h", [fired(slow, labels)]),
                Check(PROBE_CERTIFICATE_EXPIRING, "2h", [fired(cert, labels)]),
            ],
        ),
        Case(
            "probes: up, fast, certificate far from expiry stay silent",
            series(1, pack.slow_seconds / 2, days * DAY * 3),
            [Check(r["alert"], "2h") for r in (down, slow, cert)],
        ),
    ]
