"""Probes against local HTTP and HTTPS servers (trustme certificate with a known expiry)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from prometheus_client import CollectorRegistry

from exporters.app.probes import ProbeCollector, ProbePoller, Prober, ProbeSpec
from tests.support.procs import free_port

NOT_AFTER = datetime(2031, 6, 1, 12, 0, 0, tzinfo=UTC)


def target_app(hung: asyncio.Event) -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok " * 1000)

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def old(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/healthz")

    async def hang(request: web.Request) -> web.Response:
        hung.set()
        # Never answers: only the probe's timeout or the server's shutdown ends it.
        await asyncio.Event().wait()
        return web.Response(text="never sent")

    app = web.Application()
    app.router.add_get("/healthz", ok)
    app.router.add_get("/missing", missing)
    app.router.add_get("/old", old)
    app.router.add_get("/hang", hang)
    return app


@contextlib.asynccontextmanager
async def serve(
    ssl_context: ssl.SSLContext | None = None, hung: asyncio.Event | None = None
) -> AsyncIterator[str]:
    """Serve the target app; `hung` is set once a request reaches `/hang`."""
    runner = web.AppRunner(target_app(hung or asyncio.Event()), shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def prober() -> AsyncIterator[Prober]:
    p = Prober()
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """A server context with a 127.0.0.1 certificate expiring at NOT_AFTER, and the CA file."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost", not_after=NOT_AFTER)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, str(ca_file)


async def test_http_success_records_status_and_duration(prober: Prober) -> None:
    async with serve() as base:
        result = await prober.probe(ProbeSpec("web", f"{base}/healthz"))
    assert result.success and result.status_code == 200
    assert 0 < result.duration < 1.0
    assert result.cert_expiry is None


async def test_unexpected_status_fails(prober: Prober) -> None:
    async with serve() as base:
        result = await prober.probe(ProbeSpec("web", f"{base}/missing"))
        expected = await prober.probe(ProbeSpec("web", f"{base}/missing", expect_status=(404,)))
    assert not result.success and result.status_code == 404
    assert result.reason == "status"
    assert expected.success and expected.status_code == 404 and expected.reason is None


async def test_redirects_followed_or_not(prober: Prober) -> None:
    async with serve() as base:
        followed = await prober.probe(ProbeSpec("web", f"{base}/old"))
        kept = await prober.probe(ProbeSpec("web", f"{base}/old", follow_redirects=False))
        wanted = await prober.probe(
            ProbeSpec("web", f"{base}/old", follow_redirects=False, expect_status=(301,))
        )
    assert followed.success and followed.status_code == 200
    assert not kept.success and kept.status_code == 301
    assert wanted.success and wanted.status_code == 301


async def test_timeout_fails_after_the_timeout(prober: Prober) -> None:
    async with serve() as base:
        result = await prober.probe(ProbeSpec("web", f"{base}/hang", timeout=0.3))
    assert not result.success and result.status_code == 0
    assert result.error == "timeout" and result.reason == "timeout"
    assert 0.3 <= result.duration < 1.5


async def test_connection_refused_fails_fast(prober: Prober) -> None:
    result = await prober.probe(ProbeSpec("web", f"http://127.0.0.1:{free_port()}/"))
    assert not result.success and result.status_code == 0
    assert result.duration < 1.0
    assert result.error is not None and "Connect" in result.error
    assert result.reason == "refused"


async def test_https_reports_certificate_expiry(prober: Prober, tls) -> None:
    context, ca_file = tls
    async with serve(context) as base:
        result = await prober.probe(ProbeSpec("tls", f"{base}/healthz", ca_file=ca_file))
    assert result.success and result.status_code == 200
    assert result.cert_expiry == NOT_AFTER.timestamp()


async def test_https_with_untrusted_certificate_fails(prober: Prober, tls) -> None:
    context, _ = tls
    async with serve(context) as base:
        result = await prober.probe(ProbeSpec("tls", f"{base}/healthz"))
    assert not result.success and result.status_code == 0
    assert result.error is not None and "Certificate" in result.error
    assert result.reason == "tls"


async def test_unresolvable_name_fails_as_dns(prober: Prober) -> None:
    result = await prober.probe(ProbeSpec("web", "http://opslens-probe.invalid/", timeout=3))
    assert not result.success and result.reason == "dns"


async def test_collector_labels_and_scrape_never_waits_for_a_probe(prober: Prober, tls) -> None:
    context, ca_file = tls
    hung = asyncio.Event()
    async with serve(context, hung) as base:
        good = ProbePoller(
            ProbeSpec("shop-health", f"{base}/healthz", service="shop-api", ca_file=ca_file), prober
        )
        slow = ProbePoller(ProbeSpec("slow", f"{base}/hang", timeout=2.0, ca_file=ca_file), prober)
        registry = CollectorRegistry()
        registry.register(ProbeCollector([good, slow]))
        await good.poll()
        pending = asyncio.create_task(slow.poll())
        await asyncio.wait_for(hung.wait(), timeout=10)
        assert not pending.done()
        # The slow probe is in flight: a scrape returns at once without it.
        value = registry.get_sample_value
        shop = {"probe": "shop-health", "service": "shop-api"}
        assert value("probe_success", shop) == 1
        assert value("probe_http_status_code", shop) == 200
        assert value("probe_ssl_earliest_cert_expiry", shop) == NOT_AFTER.timestamp()
        assert 0 < (value("probe_duration_seconds", shop) or 0) < 1
        assert value("probe_success", {"probe": "slow", "service": ""}) is None
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        assert value("opslens_probe_failure", {**shop, "reason": "status"}) is None


async def test_collector_says_why_a_probe_failed(prober: Prober) -> None:
    gone = ProbePoller(ProbeSpec("gone", f"http://127.0.0.1:{free_port()}/"), prober)
    registry = CollectorRegistry()
    registry.register(ProbeCollector([gone]))
    await gone.poll()
    labels = {"probe": "gone", "service": ""}
    assert registry.get_sample_value("probe_success", labels) == 0
    assert registry.get_sample_value("opslens_probe_failure", {**labels, "reason": "refused"}) == 1


async def test_probe_source_logs_failure_once(prober: Prober, caplog) -> None:
    source = ProbePoller(ProbeSpec("gone", f"http://127.0.0.1:{free_port()}/"), prober)
    await source.poll()
    await source.poll()
    assert source.result is not None and not source.result.success
    assert sum("probe gone" in r.getMessage() for r in caplog.records) == 1
