"""Demo AWS Cost Explorer: a local moto server seeded with daily costs that end days ago.

    python -m agent.demo.ce --listen 127.0.0.1:10482

Moto answers GetCostAndUsage from a queue of canned results, one per distinct request.
`opslens up --demo` queues the answer (`seed`) once the server is ready and before the
agent starts. The demo source's first fetch (its whole lookback) gets the seeded days;
later refreshes ask for the trailing days and get moto's empty answer, as a Cost Explorer
account whose billing stopped arriving would: the paid-API panels fill and the stale-data
alert fires.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import urllib.request
from datetime import date, timedelta
from typing import Any

DEFAULT_LISTEN = "127.0.0.1:10482"
# The newest seeded day ends this many days before today: past `stale_after` (36h) + 1 day.
ENDS_DAYS_AGO = 4
DAYS = 30
ACCOUNT = "333333333333"
# (service, daily unblended USD); amortized is 90 %, as with a savings plan.
SERVICES = (("AWS Lambda", 12.0), ("Amazon DynamoDB", 8.5), ("Amazon Simple Queue Service", 1.5))


def results(today: date) -> dict[str, Any]:
    """One GetCostAndUsage page (SERVICE × LINKED_ACCOUNT) for DAYS days ending days ago."""
    end = today - timedelta(days=ENDS_DAYS_AGO)
    days = [end - timedelta(days=n) for n in range(DAYS, 0, -1)]
    return {
        "GroupDefinitions": [
            {"Type": "DIMENSION", "Key": "SERVICE"},
            {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
        ],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": d.isoformat(), "End": (d + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": [
                    {
                        "Keys": [service, ACCOUNT],
                        "Metrics": {
                            "UnblendedCost": {"Amount": f"{amount:.4f}", "Unit": "USD"},
                            "AmortizedCost": {"Amount": f"{amount * 0.9:.4f}", "Unit": "USD"},
                        },
                    }
                    for service, amount in SERVICES
                ],
                "Estimated": False,
            }
            for d in days
        ],
        "DimensionValueAttributes": [],
    }


def seed(url: str, today: date) -> None:
    """Queue the demo's one Cost Explorer answer on the moto server at `url`."""
    request = urllib.request.Request(
        f"{url}/moto-api/static/ce/cost-and-usage-results",
        data=json.dumps({"results": [results(today)]}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 201:
            raise RuntimeError(f"moto refused the demo cost data: HTTP {response.status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.demo.ce", description=__doc__)
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help="HOST:PORT (%(default)s)")
    args = parser.parse_args(argv)
    from moto.server import ThreadedMotoServer  # a dev dependency: only the demo needs it

    host, _, port = args.listen.rpartition(":")
    server = ThreadedMotoServer(ip_address=host, port=int(port), verbose=False)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
