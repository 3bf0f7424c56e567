"""The agent's Dockerfile: pinned slim base, non-root, a healthcheck that needs no curl.

No Docker engine runs here, so the image is not built; what can be checked without one is:
the instructions, that the command line parses with the real CLI, and that the exact
HEALTHCHECK command passes against a live agent and fails without one.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from agent.app import create_app
from agent.cli import parser
from agent.config import parse
from agent.generate import compose, naming
from agent.settings import Settings
from exporters.base import Context
from tests.support.procs import free_port


def instructions(root: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = (root / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"{args} is not the exec (JSON) form"
    return [str(v) for v in value]


def healthcheck_argv(root: Path) -> list[str]:
    (args,) = [a for i, a in instructions(root) if i == "HEALTHCHECK"]
    options, _, command = args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    return exec_form(command)


def test_base_images_are_pinned_slim(root: Path) -> None:
    steps = instructions(root)
    args = dict(a.split("=", 1) for i, a in steps if i == "ARG" and "=" in a)
    images = [a.split()[0] for i, a in steps if i == "FROM"]
    assert len(images) == 2, "a build stage and a slim runtime stage"
    for image in images:
        resolved = args.get(image.strip("${}"), image)
        name, _, tag = resolved.partition(":")
        assert name == "python" and re.fullmatch(r"3\.11\.\d+-slim-\w+", tag), resolved


def test_runs_as_the_non_root_user_compose_and_k8s_use(root: Path) -> None:
    users = [a for i, a in instructions(root) if i == "USER"]
    assert users[-1] == compose.AGENT_USER
    assert int(users[-1].split(":")[0]) != 0


def test_entrypoint_and_cmd_are_the_compose_command(root: Path) -> None:
    steps = dict(instructions(root))
    assert exec_form(steps["ENTRYPOINT"]) == ["opslens"]
    assert exec_form(steps["CMD"]) == naming.AGENT_COMMAND
    assert "10470" in steps["EXPOSE"]


def test_the_agent_command_parses_with_the_real_cli() -> None:
    args = parser().parse_args(naming.AGENT_COMMAND)
    assert args.command == "run" and args.exporter == "all"
    assert str(args.config) == naming.AGENT_CONFIG_PATH
    assert args.listen == "0.0.0.0:10470"
    assert str(args.data_dir) == naming.AGENT_DATA_DIR


def test_no_curl_and_secrets_stay_out_of_the_build_context(root: Path) -> None:
    assert not [a for i, a in instructions(root) if "curl" in a], "no curl in a slim image"
    argv = healthcheck_argv(root)
    assert argv[:2] == ["python", "-c"] and "urllib.request" in argv[2]
    ignore = [
        line.strip()
        for line in (root / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", "allow-list the build context so secrets/ and .venv never enter it"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "agent", "exporters"}
    copied = [a.split()[0] for i, a in instructions(root) if i == "COPY" and "--from" not in a]
    assert set(copied) <= allowed


async def _probe(argv: list[str], env: dict[str, str]) -> int:
    # The interpreter of this venv stands in for the image's `python`.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv[1:],
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), 30)


@pytest.mark.integration
async def test_healthcheck_commands_pass_on_a_live_agent_and_fail_otherwise(
    root: Path, tmp_path: Path
) -> None:
    settings = Settings(
        config=parse("version: 1\nproject: t\n"), exporters=(), context=Context(data_dir=tmp_path)
    )
    server = TestServer(create_app(settings, exporters=[]), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        url = f"http://127.0.0.1:{server.port}/-/healthy"
        argv = healthcheck_argv(root)
        env = {**os.environ, "OPSLENS_HEALTH_URL": url}
        assert await _probe(argv, env) == 0
        assert await _probe(argv, {**env, "OPSLENS_HEALTH_URL": url.replace("healthy", "nope")})
        compose_argv = compose.compose_file(settings.config)["services"]["agent"]["healthcheck"]
        probe = compose_argv["test"][1:]
        live = [*probe[:2], probe[2].replace(":10470/", f":{server.port}/")]
        assert live != probe
        assert await _probe(live, dict(os.environ)) == 0
    finally:
        await server.close()
    assert await _probe(argv, env) != 0  # nothing listens any more


def test_dockerfile_has_no_root_only_paths(root: Path) -> None:
    """The data dir the compose volume and k8s PVC mount is owned by the agent user."""
    text = " ".join(a for i, a in instructions(root) if i == "RUN")
    assert f"chown opslens:opslens {naming.AGENT_DATA_DIR}" in text
    assert "--uid 10001" in text and "--gid 10001" in text
