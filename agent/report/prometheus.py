"""Prometheus' HTTP query API: the report's only I/O on the way in.

Parsing the API's JSON into samples and series is pure (`parse_result`) and tested on
its own; `PrometheusClient` only moves bytes and turns every failure into `QueryError`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from .queries import Query

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Sample:
    labels: Labels
    value: float


@dataclass(frozen=True)
class Series:
    labels: Labels
    points: tuple[tuple[float, float], ...]


Result = list[Sample] | list[Series]


class QueryError(Exception):
    """A query that did not produce a result, with the reason a reader can act on."""


def parse_result(body: Mapping[str, Any]) -> Result:
    """Parse an API answer into samples (vector) or series (matrix)."""
    if body.get("status") != "success":
        raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', 'no detail')}")
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result") or []
    # Values are strings ("NaN", "+Inf" included); a NaN sample (0/0) means "no figure".
    if kind == "vector":
        return [
            Sample(dict(r["metric"]), float(r["value"][1]))
            for r in result
            if not math.isnan(float(r["value"][1]))
        ]
    if kind == "matrix":
        return [
            Series(dict(r["metric"]), tuple((float(t), float(v)) for t, v in r["values"]))
            for r in result
        ]
    if kind == "scalar":
        return [Sample({}, float(result[1]))]
    raise QueryError(f"unexpected result type {kind!r}")


class PrometheusClient:
    """Run instant and range queries against one Prometheus, on a session the caller owns."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout: float = 30.0):
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @property
    def base_url(self) -> str:
        return self._base

    async def run(self, query: Query) -> Result:
        if query.is_range:
            assert query.step is not None and query.start is not None
            path = "/api/v1/query_range"
            form = {
                "query": query.expr,
                "start": f"{query.start:.3f}",
                "end": f"{query.at:.3f}",
                "step": f"{query.step:g}",
            }
        else:
            path = "/api/v1/query"
            form = {"query": query.expr, "time": f"{query.at:.3f}"}
        try:
            # POST: long PromQL (several SLO selectors) stays clear of URL length limits.
            async with self._session.post(
                self._base + path, data=form, timeout=self._timeout
            ) as response:
                try:
                    body = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    raise QueryError(f"HTTP {response.status} from {self._base}") from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or str(exc.os_error)
            raise QueryError(f"cannot reach Prometheus at {self._base}: {reason}") from None
        except aiohttp.ClientConnectionError as exc:
            raise QueryError(f"lost the connection to Prometheus at {self._base}: {exc}") from None
        except TimeoutError:
            raise QueryError(f"Prometheus at {self._base} did not answer in time") from None
        if not isinstance(body, dict):
            raise QueryError(f"HTTP {response.status} from {self._base}: not a query answer")
        return parse_result(body)

    async def run_all(self, queries: Sequence[Query]) -> dict[str, Result | QueryError]:
        """Run every query, a few at a time; each key maps to its result or its error."""
        limit = asyncio.Semaphore(8)

        async def one(query: Query) -> Result | QueryError:
            async with limit:
                try:
                    return await self.run(query)
                except QueryError as exc:
                    return exc

        results = await asyncio.gather(*(one(q) for q in queries))
        return {q.key: r for q, r in zip(queries, results, strict=True)}
