"""The demo's own services: the short-lived TLS endpoint, the notification inbox, the
failing-then-healed FOCUS source and the local Cost Explorer's seed."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent.demo import ce, inbox, sandbox, tls
from exporters.app.probes import cert_expiry
from exporters.cost.focus import FocusReader
from tests.support.procs import free_port

NOW = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)


def test_minted_certificate_expires_when_asked(tmp_path: Path) -> None:
    cert, key = tls.mint(tmp_path, "127.0.0.1", 5, NOW)
    assert key.stat().st_mode & 0o777 == 0o600
    info = ssl._ssl._test_decode_cert(str(cert))  # type: ignore[attr-defined]
    expires = ssl.cert_time_to_seconds(info["notAfter"])
    assert expires == (NOW + dt.timedelta(days=5)).timestamp()
    assert ("IP Address", "127.0.0.1") in info["subjectAltName"]


async def test_tls_endpoint_verifies_with_its_ca_and_reports_expiry(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cert, key = tls.mint(tmp_path, "127.0.0.1", 5, now)
    runner = web.AppRunner(tls.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls.server_context(cert, key)).start()
    try:
        client = ssl.create_default_context(cafile=str(cert))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"https://127.0.0.1:{port}/healthz", ssl=client) as response,
        ):
            assert response.status == 200
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        try:
            expiry = cert_expiry(writer.get_extra_info("ssl_object"))
        finally:
            writer.close()
        assert expiry == (now + dt.timedelta(days=5)).timestamp()
        # Without the demo CA the certificate is untrusted: the probe needs `ca_file`.
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with aiohttp.ClientSession() as session:
                await session.get(f"https://127.0.0.1:{port}/healthz")
    finally:
        await runner.cleanup()


async def test_inbox_keeps_slack_and_pagerduty_and_refuses_non_json(
    aiohttp_client: Any,
) -> None:
    client = await aiohttp_client(inbox.http_app(inbox.Inbox()))
    slack = await client.post("/slack", json={"text": "[FIRING:1] HIGH ProbeDown"})
    assert slack.status == 200 and await slack.text() == "ok"
    pd = await client.post("/pagerduty", json={"payload": {"summary": "OpslensSourceDown"}})
    assert pd.status == 202 and (await pd.json())["status"] == "success"
    bad = await client.post("/slack", data=b"not json")
    assert bad.status == 400 and "JSON" in (await bad.json())["error"]
    listed = await (await client.get("/messages")).json()
    assert [m["receiver"] for m in listed["messages"]] == ["slack", "pagerduty"]
    assert "ProbeDown" in listed["messages"][0]["text"]
    assert "OpslensSourceDown" in listed["messages"][1]["text"]
    assert listed["dropped"] == 0


def test_inbox_drops_the_oldest_past_its_cap_and_counts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox, "MAX_MESSAGES", 2)
    box = inbox.Inbox()
    for n in range(3):
        box.add("slack", str(n))
    assert [m.text for m in box.messages] == ["1", "2"] and box.dropped == 1


async def test_inbox_smtp_receives_what_smtplib_sends() -> None:
    box = inbox.Inbox()
    port = free_port()
    server = await inbox.start_smtp(box, f"127.0.0.1:{port}")
    message = EmailMessage()
    message["Subject"] = "[FIRING:1] MEDIUM CloudCostDataStale"
    message["From"], message["To"] = "opslens@demo.invalid", "oncall@demo.invalid"
    # A long line with a leading dot: quoted-printable and dot-stuffing both undone.
    message.set_content(".Cost data of AWS in demo-aws is stale " + "x" * 200)

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            assert smtp.ehlo()[0] == 250
            assert not smtp.has_extn("starttls")  # the demo's require_tls: false
            smtp.send_message(message)

    async with server:
        await asyncio.to_thread(send)
    [mail] = box.messages
    assert mail.receiver == "email"
    assert "Subject: [FIRING:1] MEDIUM CloudCostDataStale" in mail.text
    assert ".Cost data of AWS in demo-aws is stale " + "x" * 200 in mail.text


def test_sandbox_breaks_then_heals_into_valid_focus(tmp_path: Path) -> None:
    broken = sandbox.break_(tmp_path)
    with pytest.raises(OSError), gzip.open(broken) as f:
        f.read()
    healed = sandbox.heal(tmp_path, NOW.date())
    assert healed == broken and sorted(p.name for p in tmp_path.iterdir()) == [sandbox.FILE]
    rows = sandbox.rows(NOW.date())
    assert rows and {r["SubAccountId"] for r in rows} == {sandbox.ACCOUNT[0]}
    *usage, correction = rows
    assert {r["ChargePeriodStart"][:10] for r in usage} == {
        (NOW.date() - dt.timedelta(days=n)).isoformat() for n in range(sandbox.DAYS + 1)
    }
    # Billed this month, for a day of last month: the corrections panel has data.
    assert correction["ChargeClass"] == "Correction" and float(correction["BilledCost"]) < 0
    assert correction["BillingPeriodStart"] == "2026-12-01T00:00:00Z"
    assert correction["ChargePeriodStart"] == "2026-11-30T00:00:00Z"
    reader = FocusReader()
    try:
        ledger = reader.read(str(healed), ["team"])
    finally:
        reader.close()
    assert not ledger.unparseable and ledger.dropped_rows == 0


def test_sandbox_heals_only_after_every_receiver_got_the_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[dict[str, str]]] = [
        [{"receiver": "slack", "text": "[FIRING:1] CRITICAL OpslensSourceDown demo-sandbox"}],
        [
            {"receiver": "slack", "text": "[FIRING:1] CRITICAL OpslensSourceDown demo-sandbox"},
            {"receiver": "pagerduty", "text": "[FIRING:1] CRITICAL OpslensSourceDown demo-billing"},
        ],
        [
            {"receiver": "slack", "text": "[FIRING:1] CRITICAL OpslensSourceDown demo-sandbox"},
            {"receiver": "pagerduty", "text": "[FIRING:1] CRITICAL OpslensSourceDown demo-sandbox"},
        ],
    ]
    calls = iter(seen)

    class Response:
        def __init__(self, body: list[dict[str, str]]):
            self.body = json.dumps({"messages": body}).encode()

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read(self, *args: Any) -> bytes:
            return self.body

    monkeypatch.setattr(sandbox.urllib.request, "urlopen", lambda *a, **k: Response(next(calls)))
    sandbox.break_(tmp_path)
    assert not sandbox.delivered("http://inbox", "OpslensSourceDown", ["pagerduty", "slack"])
    assert not sandbox.delivered("http://inbox", "OpslensSourceDown", ["pagerduty", "slack"])
    assert sandbox.delivered("http://inbox", "OpslensSourceDown", ["pagerduty", "slack"])


def test_ce_seed_ends_days_ago_with_every_service() -> None:
    page = ce.results(NOW.date())
    days = [r["TimePeriod"]["Start"] for r in page["ResultsByTime"]]
    assert len(days) == ce.DAYS
    last = dt.date.fromisoformat(page["ResultsByTime"][-1]["TimePeriod"]["End"])
    assert last == NOW.date() - dt.timedelta(days=ce.ENDS_DAYS_AGO)
    services = {g["Keys"][0] for r in page["ResultsByTime"] for g in r["Groups"]}
    assert services == {s for s, _ in ce.SERVICES}
