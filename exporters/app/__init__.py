"""Application metrics: instrumentation for users' services, and the agent's app exporter.

`from exporters.app import instrument_aiohttp, PrometheusASGIMiddleware` is all a service
needs. Names resolve on first use, so importing the package does not pull in
aiohttp, psutil or the agent.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .aiohttp_middleware import instrument_aiohttp as instrument_aiohttp
    from .asgi import PrometheusASGIMiddleware as PrometheusASGIMiddleware
    from .helpers import AiUsageMetrics as AiUsageMetrics
    from .helpers import CacheMetrics as CacheMetrics
    from .helpers import CircuitBreakerMetrics as CircuitBreakerMetrics
    from .helpers import ModelPrice as ModelPrice
    from .instrument import DEFAULT_BUCKETS as DEFAULT_BUCKETS
    from .instrument import UNMATCHED as UNMATCHED
    from .instrument import HttpMetrics as HttpMetrics

_LAZY = {
    "instrument_aiohttp": "aiohttp_middleware",
    "PrometheusASGIMiddleware": "asgi",
    "HttpMetrics": "instrument",
    "DEFAULT_BUCKETS": "instrument",
    "UNMATCHED": "instrument",
    "CacheMetrics": "helpers",
    "CircuitBreakerMetrics": "helpers",
    "AiUsageMetrics": "helpers",
    "ModelPrice": "helpers",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
