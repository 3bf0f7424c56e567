"""Rule-evaluation cost of OpsLens's SLO rules against Sloth-shaped rules: 100 SLOs, 30 days.

1. Write 30 days of synthetic OpenMetrics for 100 services: requests by status, one sample
   a minute; plus the recorded history each rule set reads over the whole period (our
   5-minute increases, Sloth's 5-minute ratio as recorded every evaluation). The data
   ends `--ahead` seconds in the future, about when Prometheus starts: rule results
   before a block's end cannot be written, and the short windows need fresh samples.
2. Backfill them with `promtool tsdb create-blocks-from openmetrics`, then wait for the
   data's end.
3. Start one Prometheus on that TSDB with both rule sets: ours as `opslens generate` writes
   them for the 100 SLOs, and Sloth's shape (its generated rules for its own example,
   tests/fixtures/shared/sloth/) written here for the same 100 SLOs. Every group is
   evaluated every `--interval` seconds; that includes our period groups (5m in
   production), so they are measured within the run.
4. Read `prometheus_rule_group_last_duration_seconds` of every group over `--rounds`
   evaluations, after `--warmup` ones, and report, for each set, the
   seconds one round of all its groups takes (medians per group, summed), and the
   evaluation seconds per hour at a 1m evaluation interval (our period groups at their
   own 5m).

Usage: `python benchmarks/bench_slo.py [--slos 100] [--days 30] [--rounds 3] [--interval 20]`
(from the repository root, with prometheus and promtool on PATH).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

# This checkout's agent package, not whichever one the interpreter has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import parse
from agent.generate.rules.slo import slo_groups

MINUTE = 60
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")  # Sloth's, for a 30d SLO


def service(i: int) -> str:
    return f"svc-{i:03d}"


def config_text(slos: int) -> str:
    items = [
        {
            "name": "availability",
            "service": service(i),
            "objective": 99.9,
            "window": "30d",
            "errors": f'http_requests_total{{job="{service(i)}",status=~"5.."}}',
            "total": f'http_requests_total{{job="{service(i)}"}}',
        }
        for i in range(slos)
    ]
    doc = {"version": 1, "project": "bench", "slos": items, "prometheus": {"retention": "30d"}}
    return yaml.safe_dump(doc, sort_keys=False)


def ours(slos: int, interval: str) -> dict[str, Any]:
    """Our rule groups for the SLOs, the period groups run every `interval` here."""
    config = parse(config_text(slos))
    groups = [g for slo in config.slos for g in slo_groups(config, slo)]
    return {"groups": [{**g, "interval": interval} if "interval" in g else g for g in groups]}


def pair(sel: str, short: str, long: str, factor: str) -> str:
    """One window pair of a Sloth alert, with its float budget."""
    budget = "0.0009999999999999432"
    return (
        f"(\n    max(slo:sli_error:ratio_rate{short}{{{sel}}} > ({factor} * {budget})) "
        "without (sloth_window)\n    and\n"
        f"    max(slo:sli_error:ratio_rate{long}{{{sel}}} > ({factor} * {budget})) "
        "without (sloth_window)\n)"
    )


def sloth(slos: int) -> dict[str, Any]:
    """Sloth's three groups per SLO, as in its generated rules, for the same SLOs."""
    groups = []
    for i in range(slos):
        svc, slo = service(i), "availability"
        sid = f"{svc}-{slo}"
        ids = {"sloth_id": sid, "sloth_service": svc, "sloth_slo": slo}
        sel = f'sloth_id="{sid}", sloth_service="{svc}", sloth_slo="{slo}"'
        errors = f'http_requests_total{{job="{svc}",status=~"5.."}}'
        total = f'http_requests_total{{job="{svc}"}}'
        sli = [
            {
                "record": f"slo:sli_error:ratio_rate{w}",
                "expr": f"(sum(rate({errors}[{w}])))\n/\n(sum(rate({total}[{w}])))\n",
                "labels": {**ids, "sloth_window": w},
            }
            for w in WINDOWS
        ]
        sli.append(
            {
                "record": "slo:sli_error:ratio_rate30d",
                "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[30d])\n"
                "/ ignoring (sloth_window)\n"
                f"count_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[30d])\n",
                "labels": {**ids, "sloth_window": "30d"},
            }
        )
        budget = f"slo:error_budget:ratio{{{sel}}}"
        on = "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
        meta = [
            {"record": "slo:objective:ratio", "expr": "vector(0.9990000000000001)", "labels": ids},
            {
                "record": "slo:error_budget:ratio",
                "expr": "vector(1-0.9990000000000001)",
                "labels": ids,
            },
            {"record": "slo:time_period:days", "expr": "vector(30)", "labels": ids},
            {
                "record": "slo:current_burn_rate:ratio",
                "expr": f"slo:sli_error:ratio_rate5m{{{sel}}}\n{on}{budget}\n",
                "labels": ids,
            },
            {
                "record": "slo:period_burn_rate:ratio",
                "expr": f"slo:sli_error:ratio_rate30d{{{sel}}}\n{on}{budget}\n",
                "labels": ids,
            },
            {
                "record": "slo:period_error_budget_remaining:ratio",
                "expr": f"1 - slo:period_burn_rate:ratio{{{sel}}}",
                "labels": ids,
            },
            {
                "record": "sloth_slo_info",
                "expr": "vector(1)",
                "labels": {**ids, "sloth_objective": "99.9", "sloth_mode": "cli-gen-prom"},
            },
        ]

        alerts = [
            {
                "alert": "SlothBenchAvailabilityAlert",
                "expr": f"{pair(sel, '5m', '1h', '14.4')}\nor\n{pair(sel, '30m', '6h', '6')}\n",
                "labels": {"severity": "critical", "sloth_severity": "page"},
            },
            {
                "alert": "SlothBenchAvailabilityAlert",
                "expr": f"{pair(sel, '2h', '1d', '3')}\nor\n{pair(sel, '6h', '3d', '1')}\n",
                "labels": {"severity": "warning", "sloth_severity": "ticket"},
            },
        ]
        groups += [
            {"name": f"sloth-slo-sli-recordings-{sid}", "rules": sli},
            {"name": f"sloth-slo-meta-recordings-{sid}", "rules": meta},
            {"name": f"sloth-slo-alerts-{sid}", "rules": alerts},
        ]
    return {"groups": groups}


def traffic(i: int, minutes: int) -> tuple[list[int], list[int]]:
    """Requests and 5xx per minute for service `i`: a daily cycle, rare error bursts."""
    base = 600 + 300 * (i % 7)
    total, bad = [], []
    for m in range(minutes):
        hour = (m // 60) % 24
        n = base + base * (6 if 8 <= hour < 20 else 2) // 10 + (m * 7919 + i) % 97
        total.append(n)
        # 0.05 % errors, and a 20-minute burst at 3 % once every ~9 days per service.
        burst = (m + i * 1499) % 12960 < 20
        bad.append(n * 3 // 100 if burst else (n + (m * 31 + i) % 2000) // 2000)
    return total, bad


def openmetrics(path: Path, slos: int, start: int, minutes: int) -> int:
    """Write the backfill; return the number of samples."""
    count = 0
    stamps = [f" {start + m * MINUTE}\n" for m in range(minutes)]
    recorded: dict[str, list[str]] = {
        "opslens_slo:interval_events:increase5m": [],
        "opslens_slo:interval_errors:increase5m": [],
        "slo:sli_error:ratio_rate5m": [],
    }
    with path.open("w", encoding="utf-8") as out:
        out.write("# TYPE http_requests counter\n")
        for i in range(slos):
            total, bad = traffic(i, minutes)
            good = [t - b for t, b in zip(total, bad, strict=True)]
            svc = service(i)
            for status, counts in (("200", good), ("503", bad)):
                name = f'http_requests_total{{job="{svc}",status="{status}"}} '
                values = itertools.accumulate(counts)
                out.write("".join(f"{name}{v}{s}" for v, s in zip(values, stamps, strict=True)))
                count += minutes
            # The last 5 minutes' events and errors at every minute, from running sums.
            cum_total = [0, *itertools.accumulate(total)]
            cum_bad = [0, *itertools.accumulate(bad)]
            last5 = [
                (cum_total[m + 1] - cum_total[m - 4], cum_bad[m + 1] - cum_bad[m - 4])
                for m in range(4, minutes)
            ]
            # Our period group records them once per 5 minutes; Sloth's 5m ratio, every minute.
            ours = f'{{service="{svc}",slo="availability"}} '
            every5 = range(0, len(last5), 5)
            recorded["opslens_slo:interval_events:increase5m"].append(
                "".join(
                    f"opslens_slo:interval_events:increase5m{ours}{last5[k][0]}{stamps[k + 4]}"
                    for k in every5
                )
            )
            recorded["opslens_slo:interval_errors:increase5m"].append(
                "".join(
                    f"opslens_slo:interval_errors:increase5m{ours}{last5[k][1]}{stamps[k + 4]}"
                    for k in every5
                )
            )
            theirs = (
                f'{{sloth_id="{svc}-availability",sloth_service="{svc}",'
                'sloth_slo="availability",sloth_window="5m"} '
            )
            recorded["slo:sli_error:ratio_rate5m"].append(
                "".join(
                    f"slo:sli_error:ratio_rate5m{theirs}{b / n!r}{stamps[k + 4]}"
                    for k, (n, b) in enumerate(last5)
                )
            )
            count += 2 * len(every5) + len(last5)
        for name, chunks in recorded.items():
            out.write(f"# TYPE {name} gauge\n")
            out.writelines(chunks)
        out.write("# EOF\n")
    return count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


_SAMPLE = re.compile(
    r"^(prometheus_rule_group_last_(?:duration|evaluation_timestamp)_seconds)"
    r'\{rule_group="([^"]+)"\} (\S+)$',
    re.M,
)


def group_stats(base: str) -> Iterator[tuple[str, str, float]]:
    for metric, group, value in _SAMPLE.findall(scrape(f"{base}/metrics")):
        yield metric, group.rsplit(";", 1)[1], float(value)


def measure(base: str, warmup: int, rounds: int, timeout: float) -> dict[str, list[float]]:
    """Durations of each group's evaluations after its first `warmup`, `rounds` of them.

    The first evaluations read 30 days of chunks from disk, all 500 groups at once: they
    measure the page cache, not the rules.
    """
    seen: dict[str, dict[float, float]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = list(group_stats(base))
        last = {g: v for m, g, v in stats if m.endswith("timestamp_seconds")}
        took = {g: v for m, g, v in stats if m.endswith("duration_seconds")}
        for group, at in last.items():
            if at > 0:
                seen.setdefault(group, {})[at] = took[group]
        if seen and all(len(v) >= warmup + rounds for v in seen.values()):
            break
        time.sleep(1)
    return {g: [d for _, d in sorted(v.items())[warmup:]] for g, v in seen.items()}


def backfill(promtool: str, work: Path, slos: int, start: int, minutes: int) -> int:
    """Write the OpenMetrics file and turn it into TSDB blocks; return the sample count."""
    samples = openmetrics(work / "backfill.om", slos, start, minutes)
    # One block per 32 days: promtool reads the whole input once per block.
    subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=768h",
            str(work / "backfill.om"),
            str(work / "tsdb"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (work / "backfill.om").unlink()
    return samples


@contextlib.contextmanager
def running(prometheus: str, work: Path) -> Iterator[str]:
    """Prometheus on the backfilled TSDB, its base URL; stopped (by its pid) at the end."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (work / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            [
                prometheus,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                "--storage.tsdb.retention.time=40d",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(240):
                with contextlib.suppress(OSError):
                    scrape(f"{base}/-/ready")
                    break
                time.sleep(0.5)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def query(base: str, expr: str) -> Any:
    return yaml.safe_load(scrape(f"{base}/api/v1/query?query=" + urllib.parse.quote(expr)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slos", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=1, help="evaluations dropped per group")
    parser.add_argument("--rounds", type=int, default=3, help="evaluations measured per group")
    parser.add_argument("--interval", type=int, default=30, help="seconds between evaluations")
    parser.add_argument("--ahead", type=int, default=120, help="seconds of data past now")
    parser.add_argument("--keep", type=Path, help="keep the working folder here")
    args = parser.parse_args()
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        sys.exit("prometheus and promtool must be on PATH")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-slo-"))
    try:
        run(args, prometheus, promtool, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, prometheus: str, promtool: str, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "tsdb", ignore_errors=True)
    now = int(time.time()) // MINUTE * MINUTE
    minutes = args.days * 1440 + 60 + args.ahead // MINUTE
    start = now + args.ahead // MINUTE * MINUTE - minutes * MINUTE
    began = time.monotonic()
    samples = backfill(promtool, work, args.slos, start, minutes)
    backfilled = time.monotonic()
    time.sleep(max(0.0, start + minutes * MINUTE + 2 - time.time()))

    every = f"{args.interval}s"
    (work / "ours.rules.yml").write_text(yaml.safe_dump(ours(args.slos, every)), encoding="utf-8")
    (work / "sloth.rules.yml").write_text(yaml.safe_dump(sloth(args.slos)), encoding="utf-8")
    config: dict[str, Any] = {"global": {"evaluation_interval": every}}
    (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with running(prometheus, work) as base:
        # Read every chunk once before the rules start: the first evaluations would
        # otherwise time the disk and the page cache, all 500 groups at once.
        for expr in (
            "count(count_over_time(http_requests_total[31d]))",
            "count(count_over_time(opslens_slo:interval_events:increase5m[31d]))",
            "count(count_over_time(opslens_slo:interval_errors:increase5m[31d]))",
            "count(count_over_time(slo:sli_error:ratio_rate5m[31d]))",
        ):
            query(base, expr)
        config["rule_files"] = [str(work / "ours.rules.yml"), str(work / "sloth.rules.yml")]
        (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        urllib.request.urlopen(urllib.request.Request(f"{base}/-/reload", method="POST"))
        rounds = args.warmup + args.rounds
        durations = measure(base, args.warmup, args.rounds, args.interval * (rounds + 3) + 60)
        health = yaml.safe_load(scrape(f"{base}/api/v1/rules"))
        counts = {
            q: query(base, q)["data"]["result"][0]["value"][1]
            for q in (
                "count(opslens_slo:error_budget_remaining:ratio)",
                "count(slo:period_error_budget_remaining:ratio)",
            )
        }
    bad = [r["name"] for g in health["data"]["groups"] for r in g["rules"] if r["health"] != "ok"]
    if bad:
        sys.exit(f"rules not healthy: {bad[:5]}")
    report(args, samples, backfilled - began, counts, durations)


def report(
    args: argparse.Namespace,
    samples: int,
    backfill_s: float,
    counts: dict[str, str],
    durations: dict[str, list[float]],
) -> None:
    def total(groups: list[str]) -> float:
        return sum(statistics.median(durations[g]) for g in groups)

    fast = [g for g in durations if g.startswith("opslens-slo-") and not g.endswith("-period")]
    period = [g for g in durations if g.startswith("opslens-slo-") and g.endswith("-period")]
    theirs = [g for g in durations if g.startswith("sloth-slo-")]
    assert len(fast) == len(period) == args.slos and len(theirs) == 3 * args.slos
    ours_round, sloth_round = total(fast) + total(period), total(theirs)
    # Per hour in production: everything every minute, our period groups every 5 minutes.
    ours_hour, sloth_hour = total(fast) * 60 + total(period) * 12, sloth_round * 60
    print(
        f"{args.slos} SLOs, {args.days}d of data: {samples:,} samples, "
        f"backfilled in {backfill_s:.0f} s"
    )
    for q, value in counts.items():
        print(f"{q} = {value}")
    print(f"evaluations per group: {args.rounds} measured (median), after {args.warmup} dropped")
    print(
        f"one round, all groups: ours {ours_round * 1000:.0f} ms (per-window "
        f"{total(fast) * 1000:.0f} ms + period {total(period) * 1000:.0f} ms), Sloth-shaped "
        f"{sloth_round * 1000:.0f} ms, ratio {ours_round / sloth_round:.2f}"
    )
    print(
        "evaluation seconds per hour (1m interval, our period groups 5m): "
        f"ours {ours_hour:.1f} s, Sloth-shaped {sloth_hour:.1f} s, "
        f"ratio {ours_hour / sloth_hour:.2f}"
    )


if __name__ == "__main__":
    main()
