"""Application exporter: middleware overhead per request and the demo service's throughput.

    .venv/bin/python benchmarks/bench_app.py [--seconds 3] [--rounds 3]

Every figure is compared within the same run against the uninstrumented baseline:
1. direct: the aiohttp middleware and the ASGI middleware called in a loop around a
   trivial handler, minus the handler alone (µs added per request, no I/O noise);
2. served: a real aiohttp server in a child process driven over HTTP at concurrency 32;
   the server's CPU µs per request, plain vs instrumented, alternating rounds (median);
3. the demo shop-api (instrumented, simulated work off, no incident) in requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import psutil
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry

from exporters.app import PrometheusASGIMiddleware, instrument_aiohttp
from exporters.app.demo import FaultSchedule, create_app

CONCURRENCY = 32
TARGET_US = 20.0


async def order(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def plain_app(instrumented: bool) -> web.Application:
    app = web.Application()
    app.router.add_get("/orders/{id}", order)
    if instrumented:
        instrument_aiohttp(app, CollectorRegistry())
    return app


def per_call_us(call: Callable[[], Awaitable[object]], n: int) -> float:
    async def loop() -> float:
        for _ in range(1000):
            await call()
        start = time.perf_counter()
        for _ in range(n):
            await call()
        return (time.perf_counter() - start) / n * 1e6

    return asyncio.run(loop())


def best_of(call: Callable[[], Awaitable[object]], n: int, rounds: int) -> float:
    return min(per_call_us(call, n) for _ in range(rounds))


def direct_aiohttp(n: int, rounds: int) -> tuple[float, float]:
    """Handler alone vs the middleware around it, on a request routed by the real router."""
    app = plain_app(instrumented=True)
    middleware = app.middlewares[-1]

    async def routed() -> web.Request:
        req = make_mocked_request("GET", "/orders/42", app=app)
        # The mocked request's route is a Mock (slow attribute access): use the real one.
        req._match_info = await app.router.resolve(req)
        return req

    request = asyncio.run(routed())
    base = best_of(lambda: order(request), n, rounds)
    wrapped = best_of(lambda: middleware(request, order), n, rounds)
    return base, wrapped


def direct_asgi(n: int, rounds: int) -> tuple[float, float]:
    start = {"type": "http.response.start", "status": 200, "headers": []}
    body = {"type": "http.response.body", "body": b"ok"}

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        scope["route"] = "/orders/{id}"
        await send(start)
        await send(body)

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    async def send(message: object) -> None:
        pass

    def scope() -> dict[str, object]:
        return {"type": "http", "method": "GET", "path": "/orders/42", "root_path": ""}

    wrapped_app = PrometheusASGIMiddleware(app, CollectorRegistry())
    base = best_of(lambda: app(scope(), receive, send), n, rounds)
    wrapped = best_of(lambda: wrapped_app(scope(), receive, send), n, rounds)
    return base, wrapped


def _serve(kind: str, port: int) -> None:
    if kind == "demo":
        schedule = FaultSchedule(start=0.0, incident=0.0)
        app = create_app(CollectorRegistry(), schedule, latency=False)
    else:
        app = plain_app(instrumented=kind == "instrumented")
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _drive(url_for: Callable[[int], str], seconds: float) -> int:
    done = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(w: int) -> None:
            nonlocal done
            i = w
            while time.perf_counter() < deadline:
                async with session.get(url_for(i)) as response:
                    await response.read()
                done += 1
                i += CONCURRENCY

        await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    return done


def served(kind: str, seconds: float, path: Callable[[int], str]) -> tuple[float, float]:
    """Run `kind` in a child process; return (server CPU µs per request, requests/s)."""
    port = _free_port()
    child = multiprocessing.Process(target=_serve, args=(kind, port), daemon=True)
    child.start()
    try:
        for _ in range(200):
            try:
                import urllib.request

                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        proc = psutil.Process(child.pid)
        asyncio.run(_drive(lambda i: f"http://127.0.0.1:{port}{path(i)}", 0.5))  # warm up
        cpu0 = sum(proc.cpu_times()[:2])
        start = time.perf_counter()
        count = asyncio.run(_drive(lambda i: f"http://127.0.0.1:{port}{path(i)}", seconds))
        elapsed = time.perf_counter() - start
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        return cpu / count * 1e6, count / elapsed
    finally:
        child.terminate()
        child.join(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per served round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200_000, help="per direct round")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, aiohttp {aiohttp.__version__}")

    base, wrapped = direct_aiohttp(args.calls, args.rounds)
    print(
        f"direct aiohttp: handler {base:.2f} µs, with middleware {wrapped:.2f} µs "
        f"→ +{wrapped - base:.2f} µs per request (target ≤ {TARGET_US:.0f})"
    )
    asgi_base, asgi_wrapped = direct_asgi(args.calls, args.rounds)
    print(
        f"direct ASGI:    app {asgi_base:.2f} µs, with middleware {asgi_wrapped:.2f} µs "
        f"→ +{asgi_wrapped - asgi_base:.2f} µs per request"
    )

    def orders(i: int) -> str:
        return f"/orders/{i}"

    plain_us, plain_rps, instr_us, instr_rps = [], [], [], []
    for _ in range(args.rounds):
        us, rps = served("plain", args.seconds, orders)
        plain_us.append(us)
        plain_rps.append(rps)
        us, rps = served("instrumented", args.seconds, orders)
        instr_us.append(us)
        instr_rps.append(rps)
    p_us, i_us = statistics.median(plain_us), statistics.median(instr_us)
    print(
        f"served, concurrency {CONCURRENCY}: plain {p_us:.0f} µs CPU/request "
        f"({statistics.median(plain_rps):.0f} req/s), instrumented {i_us:.0f} µs CPU/request "
        f"({statistics.median(instr_rps):.0f} req/s) → +{i_us - p_us:.1f} µs "
        f"({(i_us / p_us - 1) * 100:+.1f} %)"
    )

    mix = ("/products", "/products/{}", "/orders/{}", "/recommendations")

    def demo_path(i: int) -> str:
        return mix[i % len(mix)].format(i % 50 + 1)

    demo = [served("demo", args.seconds, demo_path) for _ in range(args.rounds)]
    demo_us = statistics.median(d[0] for d in demo)
    demo_rps = statistics.median(d[1] for d in demo)
    print(
        f"demo shop-api (instrumented, simulated work off), concurrency {CONCURRENCY}: "
        f"{demo_rps:.0f} req/s, {demo_us:.0f} µs CPU/request "
        f"(client and server share {os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
