"""Which series names a PromQL expression reads, for cross-artefact checks."""

from __future__ import annotations

import re

# Order matters: strings and Grafana variables are consumed whole before anything inside
# them could be mistaken for a name, and a number swallows its unit (`5m`, `1e3`, `0x1f`).
_TOKEN = re.compile(
    r"""
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<comment>\#[^\n]*)
  | (?P<var>\$\{[^}]*\}|\$\w+|\[\[[\w:.]+\]\])
  | (?P<number>(?:0[xX][0-9a-fA-F]+|\d[\w.]*|\.\d[\w.]*)(?:[eE][+-]?\d+)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<open>[({\[])
  | (?P<close>[)}\]])
  | (?P<other>\S)
    """,
    re.VERBOSE,
)

# Their parenthesised lists hold label names, not series.
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_KEYWORDS = _LABEL_LISTS | {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}


def _tokens(expr: str) -> list[tuple[str, str]]:
    out = []
    for match in _TOKEN.finditer(expr):
        kind = match.lastgroup or "other"
        if kind != "comment":
            out.append((kind, match.group()))
    return out


def metric_names(expr: str) -> set[str]:
    """Return the metric and recording-rule names `expr` selects."""
    tokens = _tokens(expr)
    names: set[str] = set()
    stack: list[str] = []  # open brackets; names only count outside {} and []
    skip_depth: int | None = None  # inside a by/on/... label list
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "open":
            stack.append(text)
        elif kind == "close":
            if stack:
                stack.pop()
            if skip_depth is not None and len(stack) < skip_depth:
                skip_depth = None
        elif kind == "ident" and skip_depth is None:
            lowered = text.lower()
            if stack and stack[-1] == "{":
                # {__name__="x"} is a series name written as a matcher.
                after = tokens[i + 2] if i + 2 < len(tokens) else ("", "")
                if text == "__name__" and nxt == "=" and after[0] == "string":
                    names.add(after[1][1:-1])
            elif stack and stack[-1] == "[":
                pass
            elif lowered in _LABEL_LISTS and nxt == "(":
                stack.append("(")
                skip_depth = len(stack)
                i += 1
            elif lowered in _KEYWORDS or nxt == "(" or nxt.lower() in ("by", "without"):
                pass  # keyword, function call, or `sum by (...)` aggregation
            else:
                names.add(text)
        i += 1
    return names
