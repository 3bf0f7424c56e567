"""`GET /` from the report templates: sources, scheduled reports, escaping, the token."""

from __future__ import annotations

from pathlib import Path

from agent.app import create_app
from agent.config import parse
from agent.report.scheduler import STATE_FILE, SentStore
from agent.settings import Settings
from exporters.base import Context
from tests.agent.test_runtime import FakeExporter, FlakySource

CONFIG = """\
version: 1
project: acme
agent: {metrics_token_env: TEST_TOKEN}
reports:
  timezone: Europe/Berlin
  scheduled:
    - name: weekly-review
      schedule: {weekly: friday 09:00}
      recipients: [a@example.com, b@example.com]
    - name: low-alerts
      kind: daily_digest
      schedule: {daily: "08:00"}
      recipients: [ops@example.com]
"""


async def test_status_page_lists_sources_and_scheduled_reports(
    aiohttp_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    SentStore(tmp_path / STATE_FILE).record("weekly-review", 1_800_000_000.0, 1_800_000_030.0)
    settings = Settings(
        config=parse(CONFIG),
        context=Context(data_dir=tmp_path, env={"TEST_TOKEN": "t0ken"}),
        exporters=(),
    )
    source = FlakySource("slow")
    client = await aiohttp_client(create_app(settings, exporters=[FakeExporter([source])]))
    assert (await client.get("/")).status == 401
    response = await client.get("/", headers={"Authorization": "Bearer t0ken"})
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    assert '<div class="page">' in page  # the reports' layout and style
    assert "<td>slow</td>" in page and "<b>acme</b>" in page
    assert (
        "<tr><td>weekly-review</td><td>weekly friday 09:00 Europe/Berlin</td><td>7d</td>"
        '<td class="num">2</td><td>2027-01-15 08:00 UTC</td></tr>'
    ) in page
    assert "<td>low-alerts</td><td>daily 08:00 Europe/Berlin</td><td>1d</td>" in page
    assert "<td>never</td>" in page
    assert "<script" not in page
