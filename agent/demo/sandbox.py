"""The demo's failing source: a FOCUS export that is corrupt until its alert is delivered.

`opslens up --demo` writes a corrupt file where the `demo-sandbox` source reads, so the
source fails from its first poll and the source-down alert fires. Once that alert has
reached every receiver its severity escalates to, `heal` replaces the file with a valid
export: the source recovers, the alert resolves, and its DORA incident closes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from agent.generate.naming import SOURCE_DOWN
from exporters.cost.demo import COLUMNS, demo_rows

log = logging.getLogger("opslens.demo.sandbox")

SOURCE = "demo-sandbox"
FILE = "focus-sandbox.csv.gz"
ACCOUNT = ("444444444444", "shop-sandbox")
DAYS = 3


def break_(directory: Path) -> Path:
    """Write a file that is not gzip at all where the source reads: its polls fail."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE
    path.write_bytes(b"this export was truncated in transit\n")
    return path


def rows(today: date) -> list[dict[str, str]]:
    """A sandbox account's small EKS spend over the last DAYS days and today's part, and a
    correction billed this month for an overcharge last month, as real exports carry."""
    first = today - timedelta(days=DAYS)
    out = []
    for row in demo_rows(today):
        if row["ServiceName"] != "Amazon Elastic Kubernetes Service":
            continue
        if row["ChargePeriodStart"][:10] < first.isoformat():
            continue
        scaled = {
            k: f"{float(row[k]) / 10:.10f}" for k in ("BilledCost", "EffectiveCost", "ListCost")
        }
        out.append(row | scaled | {"SubAccountId": ACCOUNT[0], "SubAccountName": ACCOUNT[1]})
    last_month = today.replace(day=1) - timedelta(days=1)
    refund = {k: "-2.5000000000" for k in ("BilledCost", "EffectiveCost", "ListCost")}
    correction = {
        "ChargeClass": "Correction",
        "ChargeDescription": "Refund: EKS overcharge last month",
        "ChargePeriodStart": f"{last_month.isoformat()}T00:00:00Z",
        "ChargePeriodEnd": f"{(last_month + timedelta(days=1)).isoformat()}T00:00:00Z",
    }
    return [*out, out[-1] | refund | correction]


def heal(directory: Path, today: date) -> Path:
    """Replace the corrupt file with a valid FOCUS export, atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(today))
    path = directory / FILE
    partial = directory / (FILE + ".partial")  # outside the source's *.csv.gz glob
    with partial.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(text.getvalue().encode())
    partial.replace(path)
    return path


def delivered(inbox: str, alertname: str, receivers: Sequence[str]) -> bool:
    """Whether a firing `alertname` for this source reached each of `receivers`."""
    with urllib.request.urlopen(f"{inbox}/messages", timeout=5) as response:
        messages = json.load(response)["messages"]
    got = {
        m["receiver"]
        for m in messages
        if "FIRING" in m["text"] and alertname in m["text"] and SOURCE in m["text"]
    }
    return set(receivers) <= got


def heal_when_delivered(
    inbox: str,
    directory: Path,
    today: date,
    receivers: Sequence[str],
    stop: threading.Event,
    alertname: str = SOURCE_DOWN,
) -> None:
    """Poll the inbox until the source-down alert was delivered to `receivers`, then heal."""
    while not stop.wait(2.0):
        try:
            if delivered(inbox, alertname, receivers):
                heal(directory, today)
                log.info("demo: %s delivered to %s; %s healed", alertname, receivers, SOURCE)
                return
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            log.warning("demo: inbox not readable yet (%s)", exc)
