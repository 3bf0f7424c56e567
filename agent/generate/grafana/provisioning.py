"""Grafana provisioning: the Prometheus datasource and the dashboards file provider."""

from __future__ import annotations

from typing import Any

from agent.config import Config

from ..hosts import Hosts
from ..naming import DATASOURCE_UID, GRAFANA_DASHBOARDS_MOUNT

DATASOURCE_NAME = "OpsLens Prometheus"
FOLDER = "OpsLens"


def datasource(config: Config, hosts: Hosts) -> dict[str, Any]:
    """Return the datasource provisioning document."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": DATASOURCE_NAME,
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": f"http://{hosts.prometheus_peer}",
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    # $__rate_interval is derived from this; it must be the scrape interval.
                    "timeInterval": config.prometheus.scrape_interval.prom(),
                    "httpMethod": "POST",
                    "prometheusType": "Prometheus",
                },
            }
        ],
    }


def dashboards() -> dict[str, Any]:
    """Return the dashboards file-provider document."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "opslens",
                "orgId": 1,
                "folder": FOLDER,
                "folderUid": "opslens",
                "type": "file",
                # Generated dashboards change through opslens.yaml, not the UI.
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": GRAFANA_DASHBOARDS_MOUNT, "foldersFromFilesStructure": False},
            }
        ],
    }
