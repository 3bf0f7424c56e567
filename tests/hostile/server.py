"""A real agent process on a free port, every webhook source configured, secrets from env."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "openapi.yaml"

# Every credential the agent reads: agent.metrics_token_env and each ingest route's.
SECRET_VARS = (
    "OPSLENS_METRICS_TOKEN",
    "GH_WEBHOOK_SECRET",
    "GL_WEBHOOK_TOKEN",
    "OPSLENS_EVENTS_TOKEN",
    "OPSLENS_AM_TOKEN",
)

CONFIG = """\
version: 1
project: hostile
agent:
  metrics_token_env: OPSLENS_METRICS_TOKEN
  body_timeout: 5s
app: {host: false}
dora:
  environments: [production]
  sources:
    - {type: github, name: gh, repo: acme/shop, service: shop,
       webhook_secret_env: GH_WEBHOOK_SECRET}
    - {type: gitlab, name: gl, project: acme/api, service: api, webhook_token_env: GL_WEBHOOK_TOKEN}
    - {type: events, name: ev, token_env: OPSLENS_EVENTS_TOKEN}
  incidents:
    alertmanager: {enabled: true, token_env: OPSLENS_AM_TOKEN}
"""


@dataclass(frozen=True)
class Agent:
    url: str
    secrets: Mapping[str, str]
    log: Path
    data_dir: Path
    config: Path

    def auth(self, path: str, body: bytes) -> dict[str, str]:
        """The headers that authenticate `body` on `path`."""
        if path == "/webhooks/github":
            key = self.secrets["GH_WEBHOOK_SECRET"].encode()
            digest = hmac.new(key, body, hashlib.sha256).hexdigest()
            return {"X-Hub-Signature-256": f"sha256={digest}"}
        if path == "/webhooks/gitlab":
            return {"X-Gitlab-Token": self.secrets["GL_WEBHOOK_TOKEN"]}
        name = {
            "/api/v1/events": "OPSLENS_EVENTS_TOKEN",
            "/webhooks/alertmanager": "OPSLENS_AM_TOKEN",
        }.get(path, "OPSLENS_METRICS_TOKEN")
        return {"Authorization": f"Bearer {self.secrets[name]}"}


@contextlib.contextmanager
def running_agent(
    workdir: Path,
    secrets: Mapping[str, str],
    config: str = CONFIG,
    env: Mapping[str, str] | None = None,
    exporter: str = "all",
) -> Iterator[Agent]:
    """Run `python -m agent run` until the block ends; its output goes to `workdir/agent.log`."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "opslens.yaml"
    config_path.write_text(config)
    port = free_port()
    data_dir = workdir / "data"
    log = workdir / "agent.log"
    argv = [sys.executable, "-m", "agent", "run", exporter, "-c", str(config_path)]
    argv += ["--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)]
    child_env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    child_env |= dict(secrets) | dict(env or {})
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=child_env)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(f"{url}/-/ready", timeout=30, proc=proc)
        except Exception as exc:
            raise RuntimeError(f"agent did not start: {exc}\n{log.read_text()[-3000:]}") from exc
        yield Agent(url, dict(secrets), log, data_dir, config_path)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
