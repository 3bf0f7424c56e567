"""`dora.max_services`: a flood of service names cannot blow up /metrics; nothing is lost."""

from __future__ import annotations

from typing import Any

from .conftest import CONFIG, HOUR, AgentFactory, ts, value


def event(n: int, service: str) -> dict[str, Any]:
    return {
        "kind": "deployment",
        "id": f"e{n}",
        "service": service,
        "environment": "production",
        "status": "success",
        "finished_at": ts(-HOUR - n),
    }


def series(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    return {dict(labels).get("service", "") for _, labels in scrape} - {""}


async def test_ten_thousand_services_stay_bounded(agent: AgentFactory) -> None:
    a = await agent(CONFIG.replace("  failure_window: 24h\n", "  max_services: 50\n"))
    # Two real services deployed twice each: they rank above any one-off name.
    real = [event(n, name) for n, name in enumerate(["checkout", "search"] * 2)]
    assert (await a.events(real)).status == 200
    before = await a.scrape()
    flood = [event(100 + n, f"flood-{n:05d}") for n in range(10_000)]
    response = await a.events(flood)
    assert response.status == 200
    assert (await response.json())["stored"] == 10_000  # stored, only not exported
    after = await a.scrape()
    services = series(after)
    assert len(services) == 50
    assert {"checkout", "search"} <= services
    # Ties are broken by name, so the same 48 flood names are exported on every scrape.
    assert sorted(services - {"checkout", "search"}) == [f"flood-{n:05d}" for n in range(48)]
    cap = {"exporter": "dora", "reason": "max_services"}
    assert value(before, "opslens_series_dropped_total", **cap) == 0
    assert value(after, "opslens_series_dropped_total", **cap) == 2 + 10_000 - 50
    # Per exported service the series are the same before and after: bounded, not truncated.
    per_service = len([k for k in after if dict(k[1]).get("service") == "checkout"])
    assert per_service == len([k for k in before if dict(k[1]).get("service") == "checkout"])
    reader = a.exporter.store.reader()
    try:
        stored = reader.execute("SELECT count(DISTINCT service) FROM deployments").fetchone()[0]
    finally:
        reader.close()
    assert stored == 10_002
