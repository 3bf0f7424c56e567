"""metric_names(): the series a PromQL expression reads, for cross-artefact checks."""

from __future__ import annotations

import pytest

from agent.generate.grafana import metric_names

CASES = [
    ("up", {"up"}),
    ('up{job="opslens"} == 0', {"up"}),
    (
        "histogram_quantile(0.95, sum by (le, route) "
        '(rate(http_request_duration_seconds_bucket{service=~"$service"}[$__rate_interval])))',
        {"http_request_duration_seconds_bucket"},
    ),
    # aggregation modifier after the body, and label names that look like metrics
    ("sum(rate(http_requests_total[5m])) by (job, instance)", {"http_requests_total"}),
    ("sum without (instance) (x) / ignoring (code) y", {"x", "y"}),
    ("SUM BY (le) (a)", {"a"}),
    # vector matching with label lists, and group_left without a list
    (
        "a * on (slo, service) group_left (team) b + c * on () group_right d",
        {"a", "b", "c", "d"},
    ),
    ("a / on(x) group_left b", {"a", "b"}),
    # recording rule names carry colons
    (
        "slo:sli_error:ratio_rate1h / on (slo, service) slo:error_budget:ratio",
        {"slo:sli_error:ratio_rate1h", "slo:error_budget:ratio"},
    ),
    # strings with braces, brackets, escaped quotes and metric-like words
    ('foo{a="}", b=~"[bar]", c="x\\"y baz"}', {"foo"}),
    ("label_replace(up, 'dst', '$1', 'src', 'other_metric(.*)')", {"up"}),
    ('count_values("le", q)', {"q"}),
    # durations, offsets, subqueries, @ modifiers, numbers, keywords
    ("rate(x[5m] offset 1h30m) > bool 1e-3", {"x"}),
    ("max_over_time(deriv(y[1m])[1h:5m]) @ start()", {"y"}),
    ("z @ 1609746000 and w unless v or u", {"z", "w", "v", "u"}),
    ("a + Inf - NaN + 0x1F + .5", {"a"}),
    ("atan2 (a, b)", {"a", "b"}),
    ("a atan2 b", {"a", "b"}),
    # Grafana variables in every form
    ("increase(k[$__range]) / $__range_s + ${__interval_ms} * [[legacy]] + ${v:csv}", {"k"}),
    ('m{service=~"${service:regex}"}', {"m"}),
    # {__name__=...} selects a series by name; regex matches do not name one
    ('{__name__="n1", job="j"} + {__name__=~"n2.*"}', {"n1"}),
    # comments
    ("a # b c\n+ d", {"a", "d"}),
    ("time() - max(cloudcost_data_timestamp_seconds)", {"cloudcost_data_timestamp_seconds"}),
    ("vector(0)", set()),
    ('count(ALERTS{alertstate="firing"}) or vector(0)', {"ALERTS"}),
]


@pytest.mark.parametrize(("expr", "names"), CASES)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
