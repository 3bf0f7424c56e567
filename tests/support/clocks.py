"""A monotonic timer that moves only when a test moves it."""

from __future__ import annotations


class FakeTimer:
    """Stands in for `time.perf_counter`: a handler "takes" exactly what it advances."""

    def __init__(self, start: float = 0.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
