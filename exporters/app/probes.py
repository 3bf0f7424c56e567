"""HTTP/TLS probes with blackbox-compatible names, each on its own interval.

A probe that finds its target down is data (`probe_success 0`), as with blackbox: the
prober worked. Only a fault of the prober itself fails the source.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.connector import Connection
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger("opslens.app.probes")

# Bodies are read (a probe times the whole answer) but never kept, and not forever.
MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    url: str
    interval: float = 30.0
    timeout: float = 5.0
    expect_status: tuple[int, ...] = (200,)
    service: str = ""
    follow_redirects: bool = True
    ca_file: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    duration: float
    status_code: int = 0
    cert_expiry: float | None = None
    error: str | None = field(default=None, compare=False)
    # Why it failed, one of FAILURE_REASONS; None when it succeeded.
    reason: str | None = None


# `opslens_probe_failure{reason}`: a closed set, so a failing probe adds one series.
FAILURE_REASONS = ("timeout", "refused", "tls", "dns", "connection", "status")


def failure_reason(exc: BaseException) -> str:
    """Classify a client error: a certificate, a refused port, a name that does not resolve."""
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
        return "tls"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns"
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, ConnectionRefusedError):
        return "refused"
    return "connection"


def cert_expiry(ssl_object: Any) -> float | None:
    """Earliest `notAfter` (unix seconds) of the peer's chain, or of its leaf before 3.13."""
    if ssl_object is None:
        return None
    chain = getattr(ssl_object, "get_verified_chain", None)
    certs = [c.get_info() for c in chain()] if chain else [ssl_object.getpeercert()]
    times = [ssl.cert_time_to_seconds(c["notAfter"]) for c in certs if c and "notAfter" in c]
    return float(min(times)) if times else None


# Set by the request while its connection is open (aiohttp may release it before the
# response object is handed back); read by the probe running in the same task.
_PEER_CERT_EXPIRY: ContextVar[float | None] = ContextVar("opslens_peer_cert_expiry", default=None)


class _CertRecordingRequest(aiohttp.ClientRequest):
    """A request that notes the peer certificate's expiry of each hop it is sent on."""

    async def send(self, conn: Connection) -> aiohttp.ClientResponse:
        transport = conn.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        _PEER_CERT_EXPIRY.set(cert_expiry(ssl_object))
        return await super().send(conn)


class Prober:
    """Owns the HTTP client of all probes: a fresh connection per probe, like blackbox."""

    def __init__(self, user_agent: str = "opslens-probe"):
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[str | None, ssl.SSLContext] = {}

    async def start(self) -> None:
        # force_close: a kept-alive connection would hide a dead listener and skip TLS.
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self._user_agent},
            cookie_jar=aiohttp.DummyCookieJar(),
            request_class=_CertRecordingRequest,
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _ssl(self, ca_file: str | None) -> ssl.SSLContext:
        if ca_file not in self._contexts:
            self._contexts[ca_file] = ssl.create_default_context(cafile=ca_file)
        return self._contexts[ca_file]

    async def probe(self, spec: ProbeSpec) -> ProbeResult:
        """Run one probe; a target that fails or is slow gives an unsuccessful result."""
        if self._session is None:
            raise RuntimeError("Prober.start() was not awaited")
        start = time.perf_counter()
        status, expiry = 0, None
        _PEER_CERT_EXPIRY.set(None)
        try:
            async with asyncio.timeout(spec.timeout):
                async with self._session.get(
                    spec.url,
                    allow_redirects=spec.follow_redirects,
                    # Always a verifying context: an http URL may redirect to https.
                    ssl=self._ssl(spec.ca_file),
                ) as response:
                    status = response.status
                    expiry = _PEER_CERT_EXPIRY.get()
                    read = 0
                    async for chunk in response.content.iter_chunked(65536):
                        read += len(chunk)
                        if read >= MAX_BODY_BYTES:
                            break
        except TimeoutError:
            expiry = _PEER_CERT_EXPIRY.get()
            duration = time.perf_counter() - start
            return ProbeResult(False, duration, status, expiry, "timeout", "timeout")
        except (aiohttp.ClientError, OSError) as exc:
            expiry = _PEER_CERT_EXPIRY.get()
            error = f"{type(exc).__name__}: {exc}"
            duration = time.perf_counter() - start
            return ProbeResult(False, duration, status, expiry, error, failure_reason(exc))
        duration = time.perf_counter() - start
        ok = status in spec.expect_status
        return ProbeResult(
            ok,
            duration,
            status,
            expiry,
            None if ok else f"status {status}",
            None if ok else "status",
        )


class ProbePoller:
    """Run one probe every `spec.interval` seconds; keep its latest result."""

    exporter = "app"

    def __init__(
        self, spec: ProbeSpec, prober: Prober, on_change: Callable[[], None] = lambda: None
    ):
        self.spec = spec
        self.name = f"probe:{spec.name}"
        self._prober = prober
        self._on_change = on_change
        self.result: ProbeResult | None = None

    @property
    def interval(self) -> float:
        return self.spec.interval

    async def poll(self) -> None:
        result = await self._prober.probe(self.spec)
        if not result.success and (self.result is None or self.result.success):
            log.warning(
                "probe %s of %s failed: %s",
                self.spec.name,
                self.spec.url,
                result.error or f"status {result.status_code}",
            )
        elif result.success and self.result is not None and not self.result.success:
            log.info("probe %s of %s recovered", self.spec.name, self.spec.url)
        self.result = result
        self._on_change()


class ProbeCollector:
    """The `probe_*{probe,service}` families of every probe that has run at least once."""

    def __init__(self, sources: Sequence[ProbePoller]):
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        labels = ["probe", "service"]
        success = GaugeMetricFamily(
            "probe_success", "1 if the probe succeeded (opslens probe).", labels=labels
        )
        duration = GaugeMetricFamily(
            "probe_duration_seconds",
            "Duration of the whole probe, connect to last byte (opslens probe).",
            labels=labels,
        )
        status = GaugeMetricFamily(
            "probe_http_status_code",
            "HTTP status of the final response, 0 when none arrived (opslens probe).",
            labels=labels,
        )
        failure = GaugeMetricFamily(
            "opslens_probe_failure",
            "1 while the latest probe failed, labelled with why: timeout, refused, tls, dns, "
            "connection or status (opslens probe).",
            labels=[*labels, "reason"],
        )
        expiry = GaugeMetricFamily(
            "probe_ssl_earliest_cert_expiry",
            "Unix time the earliest certificate of the peer's chain expires (opslens probe).",
            labels=labels,
        )
        for source in self._sources:
            result = source.result
            if result is None:
                continue
            key = [source.spec.name, source.spec.service]
            success.add_metric(key, 1.0 if result.success else 0.0)
            duration.add_metric(key, result.duration)
            status.add_metric(key, result.status_code)
            if result.cert_expiry is not None:
                expiry.add_metric(key, result.cert_expiry)
            if result.reason is not None:
                failure.add_metric([*key, result.reason], 1.0)
        # Families without samples (no probe has run yet, no TLS probe) are left out.
        yield from (f for f in (success, duration, status, failure, expiry) if f.samples)
