"""docs/scaling.md: every config snippet validates and generates, every command parses,
and the state table names exactly the files the code keeps in the data directory."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from agent.cli import parser
from agent.cli.run import settings_for
from agent.config import Config, ConfigError, parse
from agent.generate import prometheus, serialise
from agent.report.scheduler import STATE_FILE
from tests.support.procs import require

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "scaling.md"
TEXT = DOC.read_text(encoding="utf-8")
HEAD = "version: 1\nproject: acme\n"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", TEXT, re.M | re.S)


def snippet_configs() -> list[Config]:
    return [parse(HEAD + block) for block in blocks("yaml")]


def test_the_doc_is_linked_and_covers_the_three_points() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/scaling.md)" in readme
    headings = re.findall(r"^## (.+)$", TEXT, re.M)
    assert headings == [
        "remote_write to Thanos or Mimir",
        "Several agents",
        "What state an agent keeps",
    ]


def test_remote_write_snippet_validates_and_reaches_the_prometheus_config() -> None:
    config = next(c for c in snippet_configs() if c.prometheus.remote_write)
    doc = prometheus.prometheus_config(config)
    by_name = {rw["name"]: rw for rw in doc["remote_write"]}
    assert by_name["mimir"]["headers"] == {"X-Scope-OrgID": "acme"}
    assert by_name["mimir"]["authorization"] == {"credentials_file": "/run/secrets/mimir_token"}
    assert by_name["thanos"]["headers"] == {"THANOS-TENANT": "acme"}
    assert doc["global"]["external_labels"] == {"project": "acme", "cluster": "eu-1"}


def test_extra_agents_snippet_is_scraped_as_the_agent_job() -> None:
    config = next(c for c in snippet_configs() if c.prometheus.extra_agents)
    (job,) = [
        j
        for j in prometheus.prometheus_config(config)["scrape_configs"]
        if j["job_name"] == "opslens"
    ]
    targets = job["static_configs"][0]["targets"]
    assert targets == ["agent:10470", "agent-cost-aws:10470", "agent-cost-focus:10470"]


@pytest.mark.integration
def test_promtool_accepts_the_snippets(tmp_path: Path) -> None:
    promtool = require("promtool")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "mimir_token").write_text("x")
    for i, config in enumerate(snippet_configs()):
        (artefact,) = prometheus.render(config)
        body = serialise(artefact).replace("/run/secrets/", f"{tmp_path}/secrets/")
        path = tmp_path / f"prometheus-{i}.yml"
        path.write_text(body, encoding="utf-8")
        out = subprocess.run(
            [promtool, "check", "config", "--syntax-only", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    "headers",
    ["{Authorization: Bearer x}", "{X-API-Key: k}", "{x-auth-token: t}", "{'bad name': v}"],
)
def test_credentials_never_go_in_remote_write_headers(headers: str) -> None:
    text = (
        HEAD
        + "prometheus: {remote_write: [{url: 'https://m.example.com/push', "
        + f"headers: {headers}}}]}}\n"
    )
    with pytest.raises(ConfigError, match="headers"):
        parse(text)


def test_extra_agents_are_host_ports_once_each() -> None:
    for bad in ("['agent-2']", "['a:1', 'a:1']"):
        with pytest.raises(ConfigError, match="extra_agents"):
            parse(HEAD + f"prometheus: {{extra_agents: {bad}}}\n")


def test_every_documented_command_parses_with_the_real_cli() -> None:
    commands = [
        shlex.split(line)
        for block in blocks("sh")
        for line in block.splitlines()
        if line.startswith("opslens ")
    ]
    assert len(commands) == 3
    config = parse(HEAD)
    chosen = []
    for argv in commands:
        args = parser().parse_args(argv[1:])
        chosen.append(settings_for(args, config).exporters)
        assert args.data_dir is not None and args.listen
    assert chosen == [("dora", "app"), ("cost",), ("cost",)]


@pytest.mark.parametrize("bad", ["cost,cost", "x", "cost,", "all,cost"])
def test_run_refuses_unknown_or_repeated_exporters(bad: str) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["run", bad])


def _data_dir_paths() -> set[str]:
    """Every path the agent's code builds under its data directory (`opslens up` aside)."""
    found = set()
    for path in [*ROOT.joinpath("agent").rglob("*.py"), *ROOT.joinpath("exporters").rglob("*.py")]:
        if path.parent.name == "cli":  # `opslens up` keeps its stack in the same folder
            continue
        source = path.read_text(encoding="utf-8")
        for match in re.finditer(r"data_dir((?:\s*/\s*(?:\"[^\"]+\"|STATE_FILE))+)", source):
            parts = re.findall(r"\"([^\"]+)\"|(STATE_FILE)", match.group(1))
            found.add("/".join(literal or STATE_FILE for literal, _ in parts))
    return found


def test_the_state_table_names_exactly_what_the_code_keeps() -> None:
    table = re.search(r"^\| path \|.*?\n\n", TEXT, re.M | re.S)
    assert table
    documented = {p.rstrip("/") for p in re.findall(r"^\| `([^`]+)` \|", table.group(0), re.M)}
    assert documented == _data_dir_paths()
    assert documented == {"dora/events.db", "cost/cache.sqlite", "cost/duckdb", STATE_FILE}
