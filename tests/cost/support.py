"""Helpers for the cost tests: a settable clock, an independent FOCUS calculator, scraping."""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from agent.config import Config, parse

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NULLS = {"", "null"}
COSTS = {"BilledCost": "billed", "EffectiveCost": "effective", "ListCost": "list"}


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, when: datetime):
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += seconds


def at(day: date, hour: int = 6) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _value(row: dict[str, str], name: str) -> str:
    value = (row.get(name) or "").strip()
    return "" if value.lower() in NULLS else value


def independent_sums(
    path: Path,
) -> tuple[dict[tuple[date, str], Decimal], dict[tuple[str, str], Decimal]]:
    """Per (UTC day, cost type) and per (service, cost type) sums, with csv and Decimal only."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        text = fh.read()
    by_day: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    by_service: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(text)):
        try:
            start = datetime.fromisoformat(_value(row, "ChargePeriodStart"))
        except ValueError:
            continue
        if start.tzinfo is not None:
            start = start.astimezone(UTC)
        for column, cost_type in COSTS.items():
            amount = Decimal(_value(row, column) or "0")
            by_day[(start.date(), cost_type)] += amount
            by_service[(_value(row, "ServiceName"), cost_type)] += amount
    return dict(by_day), dict(by_service)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def quick_scrape(body: bytes, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one family, parsed with a regex (the full parser is slow per day)."""
    out = []
    for line in body.decode().splitlines():
        if line.startswith(name + "{") and (m := _SAMPLE.match(line)):
            labels = {
                k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m[2])
            }
            out.append((labels, float(m[3])))
    return out


def scrape(body: bytes | str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parse an exposition with prometheus_client's parser: family name → [(labels, value)]."""
    text = body.decode() if isinstance(body, bytes) else body
    out: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append((dict(sample.labels), sample.value))
    return dict(out)


def total(samples: Iterable[tuple[dict[str, str], float]], **match: str) -> float:
    return sum(v for labels, v in samples if all(labels.get(k) == x for k, x in match.items()))


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **match: str) -> float:
    """The one sample of `name` matching `match`, failing loudly if absent or ambiguous."""
    found = [
        v
        for labels, v in samples.get(name, [])
        if all(labels.get(k) == x for k, x in match.items())
    ]
    assert len(found) == 1, f"{name}{match}: {found}"
    return found[0]


def config(cost_yaml: str) -> Config:
    """A config with only the given `cost:` section (indented YAML body)."""
    return parse(f"version: 1\nproject: test\ncost:\n{cost_yaml}")
