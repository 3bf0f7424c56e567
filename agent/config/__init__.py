"""Config: the strict model of `opslens.yaml` and its loader."""

from exporters.config import SEVERITIES, Duration, Severity

from .loader import ConfigError, Problem, load, parse
from .models import DASHBOARDS, Config

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
