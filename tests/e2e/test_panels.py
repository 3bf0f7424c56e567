"""The panel checker itself: variable substitution, and a panel with one empty query fails."""

from __future__ import annotations

import pytest

from tests.e2e import panels


def test_substitute_replaces_every_spelling_and_refuses_unknown_variables() -> None:
    values = {"service": "(a|b)", "__rate_interval": "1m"}
    expr = 'rate(x{service=~"$service"}[$__rate_interval]) / y{service=~"${service:regex}"}'
    assert panels.substitute(expr, values) == (
        'rate(x{service=~"(a|b)"}[1m]) / y{service=~"(a|b)"}'
    )
    with pytest.raises(KeyError, match=r"\$team"):
        panels.substitute('z{team=~"$team"}', values)


def test_a_panel_counts_only_when_every_query_has_data() -> None:
    def result(panel_id: int, ref: str, series: int) -> panels.Result:
        query = panels.Query("cost", panel_id, f"Spend [{ref}]", f"q{panel_id}{ref}")
        return panels.Result(query, series)

    results = [result(1, "A", 2), result(1, "B", 0), result(2, "A", 1), result(3, "A", 0)]
    full, total, empty = panels.panels_with_data(results)
    assert (full, total) == (1, 3)
    assert empty == ["cost / Spend [B]: q1B", "cost / Spend [A]: q3A"]


def test_walk_finds_panels_inside_rows() -> None:
    tree = [{"id": 1, "panels": [{"id": 2}, {"id": 3, "panels": [{"id": 4}]}]}, {"id": 5}]
    assert [p["id"] for p in panels.walk(tree)] == [1, 2, 3, 4, 5]
