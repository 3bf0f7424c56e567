"""Where the stack's parts listen: service names under compose, loopback natively."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hosts:
    agent: str = "agent:10470"
    prometheus: str = "localhost:9090"
    alertmanager: str = "alertmanager:9093"
    grafana: str = "grafana:3000"
    # How Grafana reaches Prometheus. `prometheus` is the self-scrape target (localhost
    # inside its own container), which another container cannot use.
    prometheus_peer: str = "prometheus:9090"
    # Where Alertmanager finds the secret files that the agent also reads (NAME_FILE).
    secrets_dir: str = "/run/secrets"


COMPOSE = Hosts()


def native(agent_listen: str, secrets_dir: str = "/run/secrets") -> Hosts:
    """Return the loopback addresses `opslens up` runs the stack on."""
    return Hosts(
        agent=agent_listen,
        prometheus="127.0.0.1:9090",
        alertmanager="127.0.0.1:9093",
        grafana="127.0.0.1:3000",
        prometheus_peer="127.0.0.1:9090",
        secrets_dir=secrets_dir,
    )
