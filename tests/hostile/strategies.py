"""Hypothesis strategies: arbitrary JSON, and realistic payloads with any part replaced."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_MISSING = object()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "production", "success", "\ud800", "\x00", "9999-12-31T23:59:59Z"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutated(template: Any) -> st.SearchStrategy[Any]:
    """`template` with any value kept, dropped or replaced by arbitrary JSON, at any depth."""
    if isinstance(template, dict):
        fields = {
            key: st.one_of(mutated(value), json_values, st.just(_MISSING))
            for key, value in template.items()
        }
        return st.fixed_dictionaries(fields).map(
            lambda d: {k: v for k, v in d.items() if v is not _MISSING}
        )
    if isinstance(template, list):
        items = [st.one_of(mutated(item), json_values) for item in template]
        return st.tuples(*items).map(list) if items else st.just([])
    return st.one_of(st.just(template), json_values)


def payloads(template: Any) -> st.SearchStrategy[Any]:
    """Mostly near-valid payloads (they reach deep into a parser), sometimes anything."""
    return st.one_of(mutated(template), mutated(template), json_values)
