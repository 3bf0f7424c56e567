"""Webhook and event ingest: authenticate, parse, store, answer. No web framework here.

Every answer is a `Reply`; the aiohttp adapter only copies it out. Bad input is a 4xx
naming the field, a bad signature 401, an update that contradicts a stored event 409
naming the field (nothing is stored), an unused event a 202, and only a store that
cannot commit answers 503 (the sender retries). Nothing is acknowledged before commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exporters.auth import bearer_ok, same_secret
from exporters.base import Context

from .config import DoraConfig, EventsSource, GitHubSource, GitLabSource
from .parse_alertmanager import parse_alertmanager
from .parse_events import parse_events
from .parse_github import parse_github, repo_name
from .parse_gitlab import parse_gitlab, project_matches
from .records import BadInput, Batch, check_records, unprintable
from .store import RejectedBatch, StoreError, Submit

log = logging.getLogger("opslens.dora.ingest")

Headers = Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def error(status: int, message: str, field_name: str | None = None) -> Reply:
    body: dict[str, Any] = {"error": message}
    if field_name:
        body["field"] = field_name
    return Reply(status, body)


def decode_json(body: bytes, content_type: str = "") -> Any:
    """Parse a JSON body (or GitHub's form-encoded `payload=`); BadInput when it is not JSON."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
            body = form["payload"][0].encode()
        return json.loads(body)
    except (ValueError, KeyError, RecursionError) as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise BadInput("body", f"not valid JSON ({message})") from None


class Ingestor:
    """Turn authenticated deliveries into stored batches."""

    def __init__(self, config: DoraConfig, ctx: Context, submit: Submit):
        self.config = config
        self.submit = submit
        self.clock = ctx.clock
        self.environments = frozenset(config.environments)
        # Secrets are read once at start: reading a *_FILE per request would cost a syscall.
        self.github_sources = [
            (s, _secret(ctx, s.webhook_secret_env)) for s in _of(config, GitHubSource)
        ]
        self.gitlab_sources = [
            (s, _secret(ctx, s.webhook_token_env)) for s in _of(config, GitLabSource)
        ]
        events = _of(config, EventsSource)
        self.events_source = events[0] if events else None
        self.events_token = _secret(ctx, events[0].token_env) if events else None
        am = config.incidents.alertmanager
        self.alertmanager_token = _secret(ctx, am.token_env) if am.enabled else None

    async def _store(self, batch: Batch) -> Reply:
        if batch.empty:
            return Reply(202, {"ignored": batch.ignored or "nothing to count"})
        try:
            outcome = await self.submit(batch)
        except StoreError as exc:
            return error(503, f"store unavailable, retry later: {exc}")
        except RejectedBatch as exc:
            return error(400, str(exc), "body")
        if outcome.conflict is not None:
            log.warning("DORA ingest refused a conflicting update: %s", outcome.conflict.message)
            return error(409, outcome.conflict.message, outcome.conflict.field)
        body: dict[str, Any] = {"stored": outcome.changed, "duplicate": outcome.duplicate}
        if batch.ignored:
            body["ignored"] = batch.ignored
        if outcome.skipped:
            body["skipped"] = [{"field": c.field, "error": c.message} for c in outcome.skipped]
        return Reply(200, body)

    async def _guarded(self, work: Callable[[], Batch | Reply]) -> Reply:
        try:
            result = work()
            if isinstance(result, Batch):
                check_records(result, self.clock())
        except BadInput as exc:
            return error(400, exc.message, exc.field or "body")
        except Exception:  # a parser bug must not become a 5xx or kill the agent
            log.exception("DORA parser failed on a delivery")
            return error(400, "could not interpret the body")
        if isinstance(result, Reply):
            return result
        return await self._store(result)

    async def events(self, headers: Headers, body: bytes) -> Reply:
        """POST /api/v1/events: generic deployment/incident events."""
        if self.events_source is None:
            return error(404, "no events source is configured under dora.sources")
        token_env = self.events_source.token_env
        if token_env and self.events_token is None:  # fail closed, never open
            return error(401, f"{token_env} is not set on the agent")
        if not token_env and not self.events_source.allow_unauthenticated:
            return error(401, "the events source has no token_env (nor allow_unauthenticated)")
        if not bearer_ok(headers.get("Authorization", ""), self.events_token):
            return error(401, "missing or wrong bearer token")
        return await self._guarded(
            lambda: parse_events(decode_json(body), self.environments, self.clock())
        )

    async def alertmanager(self, headers: Headers, body: bytes) -> Reply:
        """POST /webhooks/alertmanager: firing alerts open incidents, resolved ones close them."""
        settings = self.config.incidents.alertmanager
        if not settings.enabled:
            return error(404, "dora.incidents.alertmanager is not enabled")
        if settings.token_env and self.alertmanager_token is None:
            return error(401, f"{settings.token_env} is not set on the agent")
        if not settings.token_env and not settings.allow_unauthenticated:
            return error(
                401, "dora.incidents.alertmanager has no token_env (nor allow_unauthenticated)"
            )
        if not bearer_ok(headers.get("Authorization", ""), self.alertmanager_token):
            return error(401, "missing or wrong bearer token")
        default_env = self.config.environments[0]
        return await self._guarded(
            lambda: parse_alertmanager(
                decode_json(body), settings, self.environments, default_env, self.clock()
            )
        )

    async def github(self, headers: Headers, body: bytes) -> Reply:
        """POST /webhooks/github: HMAC-checked before the body is even parsed."""
        if not self.github_sources:
            return error(404, "no github source is configured under dora.sources")
        event = headers.get("X-GitHub-Event", "")
        if not event:
            return error(400, "missing X-GitHub-Event header", "X-GitHub-Event")
        candidates = _signed_by(self.github_sources, headers.get("X-Hub-Signature-256", ""), body)
        if not candidates:
            return error(401, "bad or missing X-Hub-Signature-256")

        def work() -> Batch | Reply:
            delivery = _delivery(headers, "X-GitHub-Delivery")
            payload = decode_json(body, headers.get("Content-Type", ""))
            if event == "ping":
                return Reply(200, {"ok": "pong"})
            name = (repo_name(payload) or "").lower()
            source = next((s for s in candidates if s.repo.lower() == name), None)
            if source is None:
                return Reply(202, {"ignored": f"repository {name!r} is not configured"})
            envs = source.environments or self.config.environments
            return parse_github(
                event, _key("github", delivery), payload, source, envs, self.clock()
            )

        return await self._guarded(work)

    async def gitlab(self, headers: Headers, body: bytes) -> Reply:
        """POST /webhooks/gitlab: the X-Gitlab-Token must equal a source's token."""
        if not self.gitlab_sources:
            return error(404, "no gitlab source is configured under dora.sources")
        given = headers.get("X-Gitlab-Token", "")
        candidates = [
            s
            for s, token in self.gitlab_sources
            if (token is None and not s.webhook_token_env and s.allow_unauthenticated)
            or (token is not None and same_secret(given, token))
        ]
        if not candidates:
            return error(401, "bad or missing X-Gitlab-Token")

        def work() -> Batch | Reply:
            delivery = _delivery(headers, "X-Gitlab-Event-UUID", "Idempotency-Key")
            payload = decode_json(body)
            if not isinstance(payload, dict):
                raise BadInput("body", "expected a JSON object")
            kind = payload.get("object_kind")
            if not isinstance(kind, str):
                raise BadInput("object_kind", "is required")
            source = next((s for s in candidates if project_matches(payload, s)), None)
            if source is None:
                return Reply(202, {"ignored": "project is not configured"})
            envs = source.environments or self.config.environments
            return parse_gitlab(kind, _key("gitlab", delivery), payload, source, envs, self.clock())

        return await self._guarded(work)


def _of(config: DoraConfig, kind: type[Any]) -> list[Any]:
    return [s for s in config.sources if isinstance(s, kind)]


def _secret(ctx: Context, env_name: str | None) -> str | None:
    """The secret, or None (routes then answer 401) when it cannot be read."""
    try:
        return ctx.secret(env_name) if env_name else None
    except OSError as exc:
        log.warning("cannot read %s_FILE: %s", env_name, exc.strerror)
        return None


def _delivery(headers: Headers, *names: str) -> str | None:
    """The first delivery-id header present; BadInput naming it when it is not clean UTF-8.

    aiohttp decodes header bytes that are not UTF-8 to lone surrogates, which the store
    cannot encode: such a header is the sender's error, never the store's.
    """
    for name in names:
        if value := headers.get(name):
            if problem := unprintable(value):
                raise BadInput(name, f"header {problem}")
            return value
    return None


def _key(provider: str, delivery: str | None) -> str | None:
    return f"{provider}:{delivery[:200]}" if delivery else None


def _signed_by(
    sources: Sequence[tuple[GitHubSource, str | None]], signature: str, body: bytes
) -> list[GitHubSource]:
    """Sources whose secret signed the body; a source without one only if it allows that."""
    given = signature.removeprefix("sha256=")
    out = []
    for source, secret in sources:
        if secret is None:
            if not source.webhook_secret_env and source.allow_unauthenticated:
                out.append(source)
            continue
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if signature.startswith("sha256=") and same_secret(given, expected):
            out.append(source)
    return out
