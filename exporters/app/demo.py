"""Demo shop-api: an aiohttp service instrumented with the middleware, plus its own load.

    python -m exporters.app.demo --listen 127.0.0.1:10480

The first 3 minutes of every 10 (counted from start, so a fresh Prometheus sees one at
once) are an incident: 5 % of requests fail with 500 and 25 % take 250–350 ms.
That burns a 99.9 % availability budget at ~50× and a 99 % latency budget at ~25×: enough
for the SLO fast-burn page and the HTTP error-ratio and p95 alerts. The load generator
only talks to the service itself on loopback, at a bounded rate and concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from yarl import URL

from .aiohttp_middleware import instrument_aiohttp
from .helpers import AiUsageMetrics, CacheMetrics, CircuitBreakerMetrics, ModelPrice

log = logging.getLogger("opslens.demo")

DEFAULT_LISTEN = "127.0.0.1:10480"
PRICING = {
    "demo-small": ModelPrice(input_per_million=0.15, output_per_million=0.60),
    "demo-large": ModelPrice(input_per_million=2.50, output_per_million=10.00),
}
PRODUCTS = 50
CACHE_SIZE = 20


@dataclass(frozen=True)
class FaultSchedule:
    """When the demo misbehaves: `incident` seconds at the start of every `period`."""

    start: float
    period: float = 600.0
    incident: float = 180.0
    error_percent: int = 5
    slow_percent: int = 25  # slower than the 200 ms objective

    def in_incident(self, now: float) -> bool:
        return (now - self.start) % self.period < self.incident


@dataclass(frozen=True)
class Fault:
    error: bool
    delay: float


class Shop:
    """The demo's state: a product cache, orders, and the deterministic fault plan."""

    def __init__(
        self,
        schedule: FaultSchedule,
        registry: CollectorRegistry,
        clock: Callable[[], float],
        latency: bool,
    ):
        self.schedule = schedule
        self.clock = clock
        self.latency = latency
        self.requests = 0
        self.cache: dict[int, dict[str, object]] = {}
        self.orders: dict[int, dict[str, object]] = {}
        self.caches = CacheMetrics(registry)
        self.breakers = CircuitBreakerMetrics(registry)
        self.ai = AiUsageMetrics(PRICING, registry)
        self.breakers.set_state("payments", "closed")

    def fault(self) -> Fault:
        """The next request's fate: a pure function of the request count and the clock."""
        self.requests += 1
        n = self.requests
        incident = self.schedule.in_incident(self.clock())
        self.breakers.set_state("payments", "half_open" if incident else "closed")
        # 37 is coprime with 100: exact percentages over any 100 requests, spread over routes.
        slot = n * 37 % 100
        if incident and slot < self.schedule.error_percent:
            return Fault(error=True, delay=0.0)
        if incident and slot < self.schedule.error_percent + self.schedule.slow_percent:
            return Fault(error=False, delay=0.25 + (n % 5) * 0.025)
        return Fault(error=False, delay=(0.002 + (n % 10) * 0.003) if self.latency else 0.0)

    def product(self, product_id: int) -> dict[str, object]:
        if product_id in self.cache:
            self.caches.hit("products")
            return self.cache[product_id]
        self.caches.miss("products")
        if len(self.cache) >= CACHE_SIZE:
            self.cache.pop(next(iter(self.cache)))
        item = {"id": product_id, "name": f"product-{product_id}", "price": 5 + product_id % 20}
        self.cache[product_id] = item
        return item


SHOP: web.AppKey[Shop] = web.AppKey("shop", Shop)


async def _behave(request: web.Request) -> None:
    fault = request.app[SHOP].fault()
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.error:
        raise web.HTTPInternalServerError(text="payment backend unavailable (demo incident)")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def list_products(request: web.Request) -> web.Response:
    await _behave(request)
    shop = request.app[SHOP]
    return web.json_response([shop.product(i) for i in range(1, 11)])


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPBadRequest(text="id must be an integer") from None


async def get_product(request: web.Request) -> web.Response:
    await _behave(request)
    product_id = _id(request)
    if not 1 <= product_id <= PRODUCTS:
        raise web.HTTPNotFound(text="no such product")
    return web.json_response(request.app[SHOP].product(product_id))


async def create_order(request: web.Request) -> web.Response:
    await _behave(request)
    shop = request.app[SHOP]
    try:
        body = await request.json()
        product_id = int(body["product_id"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "product_id: an integer is required"}, status=400)
    order_id = len(shop.orders) + 1
    shop.orders[order_id] = {"id": order_id, "product_id": product_id}
    return web.json_response(shop.orders[order_id], status=201)


async def get_order(request: web.Request) -> web.Response:
    await _behave(request)
    order = request.app[SHOP].orders.get(_id(request))
    if order is None:
        raise web.HTTPNotFound(text="no such order")
    return web.json_response(order)


async def recommendations(request: web.Request) -> web.Response:
    await _behave(request)
    shop = request.app[SHOP]
    model = "demo-large" if shop.requests % 10 == 0 else "demo-small"
    shop.ai.record(model, input_tokens=400 + shop.requests % 200, output_tokens=120)
    return web.json_response({"model": model, "products": [3, 14, 15]})


def create_app(
    registry: CollectorRegistry | None = None,
    schedule: FaultSchedule | None = None,
    clock: Callable[[], float] = time.monotonic,
    latency: bool = True,
    load: LoadGenerator | None = None,
) -> web.Application:
    """The demo service; `latency=False` drops the simulated work (for benchmarks)."""
    registry = registry if registry is not None else CollectorRegistry()
    app = web.Application()
    app[SHOP] = Shop(schedule or FaultSchedule(start=clock()), registry, clock, latency)
    instrument_aiohttp(app, registry)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/products", list_products)
    app.router.add_get("/products/{id}", get_product)
    app.router.add_post("/orders", create_order)
    app.router.add_get("/orders/{id}", get_order)
    app.router.add_get("/recommendations", recommendations)
    if load is not None:
        app.cleanup_ctx.append(load.context)
    return app


class LoadGenerator:
    """Steady traffic to the demo itself: bounded rate and concurrency, loopback only."""

    # (method, path pattern) in proportion; `{n}` cycles through a bounded id range.
    MIX = (
        ("GET", "/products"),
        ("GET", "/products/{n}"),
        ("GET", "/products/{n}"),
        ("GET", "/products/{n}"),
        ("POST", "/orders"),
        ("GET", "/orders/{n}"),
        ("GET", "/recommendations"),
        ("GET", "/products/{n}"),
    )

    def __init__(self, base_url: str, rate: float = 20.0, concurrency: int = 4):
        host = URL(base_url).host or ""
        if not _loopback(host):
            raise ValueError(f"the load generator only targets loopback, not {host!r}")
        if not 0 < rate <= 200 or not 1 <= concurrency <= 32:
            raise ValueError("rate must be in (0, 200] req/s and concurrency in [1, 32]")
        self.base_url = base_url.rstrip("/")
        self.rate = rate
        self.concurrency = concurrency
        self.sent = 0

    def request(self, n: int) -> tuple[str, str, dict[str, int] | None]:
        """The n-th request of the mix: method, path, JSON body."""
        method, pattern = self.MIX[n % len(self.MIX)]
        path = pattern.replace("{n}", str(n % (PRODUCTS + 5) + 1))  # a few ids are 404s
        body = {"product_id": n % PRODUCTS + 1} if method == "POST" else None
        return method, path, body

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        limit = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(n: int) -> None:
                method, path, body = self.request(n)
                try:
                    async with session.request(method, self.base_url + path, json=body) as r:
                        await r.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.debug("demo request %s %s failed: %s", method, path, exc)
                finally:
                    limit.release()

            interval = 1.0 / self.rate
            next_at = time.monotonic()
            try:
                while True:
                    await limit.acquire()
                    task = asyncio.create_task(one(self.sent))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    self.sent += 1
                    next_at = max(next_at + interval, time.monotonic() - 1.0)
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """Run while the app serves; cancelled and awaited on shutdown."""
        task = asyncio.create_task(self.run(), name="demo-load")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_url(listen: str) -> str:
    """Where the load generator reaches a service listening on `listen`."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif not _loopback(host):
        raise ValueError(f"--listen {listen}: the load generator needs a loopback address")
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


async def until_signalled() -> None:
    """Return on SIGINT or SIGTERM (the demo's processes are stopped by `opslens up`)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve(listen: str, rate: float | None) -> None:
    """Serve the demo until SIGINT/SIGTERM."""
    load = LoadGenerator(load_url(listen), rate) if rate else None
    runner = web.AppRunner(create_app(load=load), access_log=None, handle_signals=False)
    await runner.setup()
    host, _, port = listen.rpartition(":")
    await web.TCPSite(runner, host.strip("[]") or None, int(port)).start()
    log.info("demo shop-api on http://%s/ (metrics at /metrics, load %s req/s)", listen, rate or 0)
    try:
        await until_signalled()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.app.demo", description=__doc__)
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help="HOST:PORT (default %(default)s)")
    parser.add_argument("--rate", type=float, default=20.0, help="load, requests/s (default 20)")
    parser.add_argument("--no-load", action="store_true", help="serve without the load generator")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        rate = None if args.no_load else args.rate
        if rate is not None:
            LoadGenerator(load_url(args.listen), rate)  # validate before binding
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(serve(args.listen, rate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
