"""Config value types every section model shares: the strict base, durations, names."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, StringConstraints
from pydantic_core import core_schema


class Strict(BaseModel):
    """Immutable, rejects unknown keys: a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")

# Names end up in label values, file names and Alertmanager receiver names.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=63)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]

_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DURATION_RE = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")


class Duration(timedelta):
    """A Prometheus-style duration (`30s`, `6h`, `1h30m`, `30d`) that prints back the same way."""

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION_RE.match(text) if text else None
        if not match or not any(match.groups()):
            raise ValueError(
                f"invalid duration {text!r}: use Prometheus units like 30s, 5m, 6h, 30d"
            )
        amounts = match.groups()[1::2]
        if any(n is not None and len(n) > 20 for n in amounts):
            raise ValueError(f"duration {text!r} is too long: at most 999999999d")
        counts = {u: int(n) for n, u in zip(amounts, _UNITS, strict=True) if n is not None}
        # Whole numbers only, so 840000000d992ms stays exact (a float sum would not).
        seconds = sum(int(_UNITS[u]) * n for u, n in counts.items() if u != "ms")
        try:
            return cls(seconds=seconds, milliseconds=counts.get("ms", 0))
        except OverflowError:  # past timedelta's 999,999,999 days
            raise ValueError(f"duration {text!r} is too long: at most 999999999d") from None

    @classmethod
    def of(cls, seconds: float) -> Duration:
        return cls(seconds=seconds)

    def prom(self) -> str:
        """Render in the largest exact units, as Prometheus prints durations."""
        # Exact integer milliseconds: total_seconds() is a float and drops them past ~200y.
        ms, rest = divmod(self, timedelta(milliseconds=1))
        ms += rest >= timedelta(microseconds=500)
        if ms == 0:
            return "0s"
        parts = []
        for unit in ("w", "d", "h", "m", "s", "ms"):
            size = round(_UNITS[unit] * 1000)
            if unit == "w" and ms % size:
                continue  # 10d reads better than 1w3d
            count, ms = divmod(ms, size)
            if count:
                parts.append(f"{count}{unit}")
        return "".join(parts)

    @property
    def seconds_f(self) -> float:
        return self.total_seconds()

    def __str__(self) -> str:
        return self.prom()

    def __repr__(self) -> str:
        return f"Duration({self.prom()!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> Duration:
            if isinstance(value, Duration):
                return value
            if isinstance(value, timedelta):
                return cls(seconds=value.total_seconds())
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError("expected a duration string like 30s, 5m, 6h, 30d")
            if isinstance(value, int):
                raise ValueError(f"duration needs a unit: write {value}s")
            return cls.parse(value.strip())

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda d: d.prom()),
        )
