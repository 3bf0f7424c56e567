"""Config: the strict model of `opslens.yaml` and its loader."""

from .loader import ConfigError, Problem, load, parse
from .models import DASHBOARDS, Config
from .types import SEVERITIES, Duration, Severity

__all__ = [
    "DASHBOARDS",
    "SEVERITIES",
    "Config",
    "ConfigError",
    "Duration",
    "Problem",
    "Severity",
    "load",
    "parse",
]
