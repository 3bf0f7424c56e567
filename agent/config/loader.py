"""Load `opslens.yaml`: YAML with line numbers → strict model → cross checks.

Every problem becomes `FILE:LINE: dotted.path: message`, the form editors jump to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .checks import cross_check
from .models import Config

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


class ConfigError(Exception):
    """The config is invalid; `problems` holds every error found, in line order."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.line, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class _LineIndex:
    """Map a path into the YAML document to the line it starts on."""

    def __init__(self, root: yaml.Node | None):
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[tuple[Loc, int]] = []
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                if name in seen:
                    self.duplicates.append(((*loc, name), key.start_mark.line + 1))
                seen.add(name)
                self.lines[(*loc, name)] = key.start_mark.line + 1
                self._walk(value, (*loc, name))
                self.lines[(*loc, name)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*loc, i))

    def line(self, loc: Loc) -> int:
        while loc not in self.lines and loc:
            loc = loc[:-1]
        return self.lines.get(loc, 1)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _data_loc(loc: Loc, data: Any) -> Loc:
    """Drop the union tags pydantic inserts (`sources.0.focus.path` → `sources.0.path`)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        is_tag = isinstance(node, dict) and isinstance(part, str) and part not in node
        if is_tag and (node.get("type") == part or str(part).startswith("function-")):
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _message(error: Any) -> str:
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    if error["type"] == "union_tag_invalid":
        return msg.replace("Input tag", "type").replace("found using 'type' ", "")
    return msg


def parse(text: str, file: str = "opslens.yaml") -> Config:
    """Parse config text; raise ConfigError naming file, line and field."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(file, line, "", f"invalid YAML: {problem}")]) from None
    index = _LineIndex(root)
    if index.duplicates:
        raise ConfigError(
            Problem(file, line, _dotted(loc), "duplicate key") for loc, line in index.duplicates
        )
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, 1, "", "the config must be a mapping of keys")])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = _data_loc(tuple(error["loc"]), data)
            problems.append(Problem(file, index.line(loc), _dotted(loc), _message(error)))
        raise ConfigError(problems) from None
    issues = cross_check(config)
    if issues:
        raise ConfigError(Problem(file, index.line(p), _dotted(p), m) for p, m in issues)
    return config


def load(path: str | Path) -> Config:
    """Load and validate a config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), 0, "", f"cannot read: {exc.strerror}")]) from None
    return parse(text, str(path))
