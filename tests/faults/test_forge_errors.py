"""A forge answering 5xx: one retry a second later, then the poll fails as `server_error`."""

from __future__ import annotations

import pytest

from exporters.base import SourceError
from exporters.dora.api import ApiClient

from .rigs import FaultyGitHub, one_deployment_forge

URL = "/repos/acme/web/deployments"


async def test_a_5xx_twice_fails_at_once_with_server_error() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with FaultyGitHub("acme/web", one_deployment_forge()) as fake:
        fake.fault = "server"
        client = ApiClient(fake.url, {"Authorization": "Bearer gh-token"}, sleep=sleep)
        try:
            with pytest.raises(SourceError) as raised:
                await client.get(URL)
        finally:
            await client.close()
    assert raised.value.reason == "server_error"
    assert "HTTP 503" in str(raised.value)
    assert fake.faulted == 2
    assert waits == [1.0]


async def test_a_single_5xx_is_ridden_out() -> None:
    with FaultyGitHub("acme/web", one_deployment_forge()) as fake:

        async def sleep(seconds: float) -> None:
            fake.fault = None  # the blip is over by the retry

        fake.fault = "server"
        client = ApiClient(fake.url, {"Authorization": "Bearer gh-token"}, sleep=sleep)
        try:
            data, _ = await client.get(URL)
        finally:
            await client.close()
    assert [d["id"] for d in data] == [1]
    assert fake.faulted == 1
