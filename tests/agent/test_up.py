"""`opslens up` refuses clearly: missing binaries exit 3, taken ports are named."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent.cli import main
from agent.cli.up import demo_config_text
from agent.config import parse


def test_missing_binaries_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert main(["up", "-c", str(root / "opslens.yaml"), "--data-dir", str(tmp_path / "d")]) == 3
    err = capsys.readouterr().err
    assert "prometheus, alertmanager not found" in err
    assert "apt-get install prometheus prometheus-alertmanager" in err


def test_taken_port_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.cli.up.find_binary", lambda *names: "/bin/true")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "opslens.yaml"
        config.write_text(f'version: 1\nproject: p\nagent: {{listen: "127.0.0.1:{port}"}}\n')
        assert main(["up", "-c", str(config)]) == 1
    assert f"127.0.0.1:{port} is already in use (needed by agent)" in capsys.readouterr().err


def test_demo_config_is_valid(tmp_path: Path, root: Path) -> None:
    config = parse(demo_config_text(tmp_path, root), "demo.yaml")
    assert config.cost.sources[0].path == f"{tmp_path}/demo/focus/*.csv.gz"
    assert config.dora.incidents.alertmanager.enabled
    # Every receiver is a local sink, and every severity escalates to one.
    kinds = {r.kind for r in config.notify.receivers.values()}
    assert kinds == {"pagerduty", "slack", "email"}
    assert set(config.notify.escalation) == {"critical", "high", "medium", "low"}
    assert {s.type for s in config.cost.sources} == {"focus", "aws_cost_explorer"}
    assert any(p.url.startswith("https://") and p.ca_file for p in config.app.probes)


def test_grafana_provisioning_points_at_generated_dashboards(tmp_path: Path, root: Path) -> None:
    import yaml

    from agent.cli.up import prepare_grafana
    from agent.config import load
    from agent.generate import render_all, write
    from agent.generate.hosts import native

    gen = tmp_path / "generated"
    write(render_all(load(root / "opslens.yaml"), native("127.0.0.1:10470")), gen)
    prov = prepare_grafana(gen, tmp_path)
    provider = yaml.safe_load((prov / "dashboards" / "opslens.yaml").read_text())["providers"][0]
    assert provider["options"]["path"] == str(gen / "grafana" / "dashboards")
    datasource = yaml.safe_load((prov / "datasources" / "opslens.yaml").read_text())
    assert datasource["datasources"][0]["url"] == "http://127.0.0.1:9090"


def test_demo_starts_from_a_fresh_dora_history(tmp_path: Path, root: Path) -> None:
    """Yesterday's demo events reuse today's ids with other times: a conflict (409)."""
    from agent.cli.up import prepare_demo

    stale = tmp_path / "dora" / "events.db"
    stale.parent.mkdir()
    stale.write_bytes(b"yesterday's demo history")
    prepare_demo(tmp_path, root)
    assert not stale.exists()
    assert (tmp_path / "demo" / "opslens.yaml").exists()
