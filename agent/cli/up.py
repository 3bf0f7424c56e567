"""`opslens up [--demo]`: the native stack on loopback, no Docker.

Generates into the data dir with loopback addresses, then runs the agent, Prometheus,
Alertmanager (and Grafana when installed) as child processes with logs under the data
dir, prints the URLs, and stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from agent.config import Config, ConfigError, parse
from agent.generate import render_all, write
from agent.generate.hosts import Hosts, native

from .common import EXIT_INVALID, add_config_arg, load_or_report

EXIT_MISSING = 3
DEMO_APP_LISTEN = "127.0.0.1:10480"
DEMO_TLS_LISTEN = "127.0.0.1:10481"
DEMO_CE_LISTEN = "127.0.0.1:10482"
DEMO_INBOX_LISTEN = "127.0.0.1:10483"
DEMO_SMTP_LISTEN = "127.0.0.1:10484"
# Days left on the demo HTTPS endpoint's certificate: inside the 14-day expiry warning.
DEMO_CERT_DAYS = 5
# Fake credentials for the local Cost Explorer; the files keep real ones out of reach.
DEMO_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}
INSTALL_HINT = (
    "install the Debian packages: sudo apt-get install prometheus prometheus-alertmanager "
    "(or run `make demo`, which does it for you)"
)

DEMO_HINT = "the demo's local AWS and HTTPS services need the dev extras: pip install -e '.[dev]'"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("up", help="run agent, Prometheus, Alertmanager (and Grafana) locally")
    add_config_arg(p)
    p.add_argument("--demo", action="store_true", help="use built-in demo data, no credentials")
    p.add_argument("--data-dir", type=Path, help="state folder (default: agent.data_dir)")
    p.add_argument(
        "--for", dest="duration", type=float, default=None, help=argparse.SUPPRESS
    )  # seconds; lets tests and CI run the stack for a bounded time


@dataclass
class Child:
    name: str
    argv: list[str]
    url: str
    ready_path: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    # A TLS child is checked against this CA bundle.
    cafile: str | None = None
    # Runs once the child is ready, before the next one starts.
    after_ready: Callable[[], None] | None = None

    @property
    def hostport(self) -> str:
        return self.url.split("://", 1)[1]


def find_binary(*names: str) -> str | None:
    for name in names:
        if path := shutil.which(name):
            return path
    return None


def port_in_use(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host.strip("[]"), int(port))) == 0


def demo_config_text(data_dir: Path, repo: Path) -> str:
    template = resources.files("agent.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    return template.replace("{{data_dir}}", str(data_dir)).replace("{{repo}}", str(repo))


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(value, encoding="utf-8")
        path.chmod(0o600)


def prepare_demo(data_dir: Path, repo: Path) -> Path:
    """Write demo data, certificate, sink secrets and config; return the config's path."""
    from agent.demo import sandbox, tls
    from exporters.cost.demo import write_demo_focus

    now = dt.datetime.now(dt.UTC)
    write_demo_focus(data_dir / "demo" / "focus", now.date())
    sandbox.break_(data_dir / "demo" / "sandbox")
    tls.mint(data_dir / "demo" / "tls", DEMO_TLS_LISTEN.rpartition(":")[0], DEMO_CERT_DAYS, now)
    secrets_dir = data_dir / "secrets"
    _write_secret(secrets_dir / "slack_api_url", f"http://{DEMO_INBOX_LISTEN}/slack")
    _write_secret(secrets_dir / "pagerduty_routing_key", secrets.token_hex(16))
    # The DORA demo history is generated for today on every run; the store keeps events by
    # id, and yesterday's copy of the same ids would be a conflicting update (409).
    shutil.rmtree(data_dir / "dora", ignore_errors=True)
    config_path = data_dir / "demo" / "opslens.yaml"
    config_path.write_text(demo_config_text(data_dir, repo), encoding="utf-8")
    return config_path


def provision_incident_token(config: Config, secrets_dir: Path) -> dict[str, str]:
    """Share the incident webhook token between Alertmanager and the agent via a file.

    Alertmanager reads `<secrets_dir>/<env lower>`; the agent gets `<ENV>_FILE` pointing
    at it. The file comes from the variable when set, else a random token is made once.
    """
    env_name = config.dora.incidents.alertmanager.token_env
    if not (config.dora.incidents.alertmanager.enabled and env_name):
        return {}
    path = secrets_dir / env_name.lower()
    _write_secret(path, os.environ.get(env_name) or secrets.token_hex(16))
    return {f"{env_name}_FILE": str(path)}


def prepare_grafana(gen: Path, data_dir: Path) -> Path:
    """Copy the generated provisioning with the dashboards path rewritten for this host."""
    prov = data_dir / "grafana" / "provisioning"
    shutil.rmtree(prov, ignore_errors=True)
    shutil.copytree(gen / "grafana" / "provisioning", prov)
    for path in (prov / "dashboards").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        for provider in doc.get("providers", []):
            provider.setdefault("options", {})["path"] = str(gen / "grafana" / "dashboards")
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return prov


def grafana_child(binary: str, data_dir: Path, hosts: Hosts) -> Child:
    """Grafana reading the provisioning that `prepare_grafana` writes."""
    prov = data_dir / "grafana" / "provisioning"
    home = next(
        (p for p in ("/usr/share/grafana", "/usr/local/share/grafana") if Path(p).exists()), None
    )
    host, _, port = hosts.grafana.rpartition(":")
    env = {
        "GF_PATHS_PROVISIONING": str(prov),
        "GF_PATHS_DATA": str(data_dir / "grafana" / "data"),
        "GF_PATHS_LOGS": str(data_dir / "logs"),
        "GF_SERVER_HTTP_ADDR": host,
        "GF_SERVER_HTTP_PORT": port,
        "GF_AUTH_ANONYMOUS_ENABLED": "true",
        "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
        # Local-only stack: a random admin password, printed once, never the default.
        "GF_SECURITY_ADMIN_PASSWORD": secrets.token_urlsafe(12),
    }
    argv = [binary, "server"] if binary.endswith("/grafana") else [binary]
    if home:
        argv.append(f"--homepath={home}")
    return Child(
        "grafana",
        argv,
        f"http://{hosts.grafana}",
        "/api/health",
        data_dir / "logs" / "grafana.log",
        env,
    )


def plan(
    config: Config, config_path: Path, data_dir: Path, hosts: Hosts, agent_env: dict[str, str]
) -> tuple[list[Child], list[str]]:
    """The children to start, and the binaries that are missing."""
    gen = data_dir / "generated"
    logs = data_dir / "logs"
    prometheus = find_binary("prometheus")
    alertmanager = find_binary("prometheus-alertmanager", "alertmanager")
    missing = [n for n, b in (("prometheus", prometheus), ("alertmanager", alertmanager)) if not b]
    children = [
        Child(
            "agent",
            [
                sys.executable,
                "-m",
                "agent",
                "run",
                "all",
                "-c",
                str(config_path),
                "--listen",
                hosts.agent,
                "--data-dir",
                str(data_dir),
            ],
            f"http://{hosts.agent}",
            "/-/healthy",
            logs / "agent.log",
            agent_env,
        )
    ]
    if prometheus:
        children.append(
            Child(
                "prometheus",
                [
                    prometheus,
                    f"--config.file={gen / 'compose' / 'prometheus.yml'}",
                    f"--storage.tsdb.path={data_dir / 'prometheus'}",
                    f"--storage.tsdb.retention.time={config.prometheus.retention.prom()}",
                    f"--web.listen-address={hosts.prometheus}",
                    "--web.enable-lifecycle",
                ],
                f"http://{hosts.prometheus}",
                "/-/ready",
                logs / "prometheus.log",
            )
        )
    if alertmanager:
        children.append(
            Child(
                "alertmanager",
                [
                    alertmanager,
                    f"--config.file={gen / 'alertmanager' / 'alertmanager.yml'}",
                    f"--storage.path={data_dir / 'alertmanager'}",
                    f"--web.listen-address={hosts.alertmanager}",
                    "--cluster.listen-address=",
                ],
                f"http://{hosts.alertmanager}",
                "/-/ready",
                logs / "alertmanager.log",
            )
        )
    grafana = find_binary("grafana", "grafana-server")
    if grafana:
        children.append(grafana_child(grafana, data_dir, hosts))
    return children, missing


def wait_ready(child: Child, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.proc is not None
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}; see {child.log}")
        try:
            context = ssl.create_default_context(cafile=child.cafile) if child.cafile else None
            url = child.url + child.ready_path
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{child.name} not ready after {timeout:.0f}s; see {child.log}")


@contextlib.contextmanager
def running(children: list[Child]) -> Iterator[None]:
    """Start children in order, each ready before the next; stop all in reverse."""
    try:
        for child in children:
            child.log.parent.mkdir(parents=True, exist_ok=True)
            with child.log.open("ab") as out:
                child.proc = subprocess.Popen(
                    child.argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **child.env},
                    start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
                )
            wait_ready(child)
            if child.after_ready:
                child.after_ready()
        yield
    finally:
        for child in reversed(children):
            if child.proc and child.proc.poll() is None:
                child.proc.terminate()
        for child in reversed(children):
            if child.proc:
                try:
                    child.proc.wait(15)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait()


def demo_children(data_dir: Path) -> list[Child]:
    """The demo's own services, started before the agent so its first polls succeed."""
    from agent.demo import ce

    logs = data_dir / "logs"
    py = [sys.executable, "-m"]
    today = dt.datetime.now(dt.UTC).date()
    return [
        Child(
            "demo-app",
            [*py, "exporters.app.demo", "--listen", DEMO_APP_LISTEN],
            f"http://{DEMO_APP_LISTEN}",
            "/healthz",
            logs / "demo-app.log",
        ),
        Child(
            "demo-tls",
            [
                *py,
                "agent.demo.tls",
                "--listen",
                DEMO_TLS_LISTEN,
                "--dir",
                str(data_dir / "demo" / "tls"),
            ],
            f"https://{DEMO_TLS_LISTEN}",
            "/healthz",
            logs / "demo-tls.log",
            cafile=str(data_dir / "demo" / "tls" / "cert.pem"),
        ),
        Child(
            "demo-inbox",
            [*py, "agent.demo.inbox", "--listen", DEMO_INBOX_LISTEN, "--smtp", DEMO_SMTP_LISTEN],
            f"http://{DEMO_INBOX_LISTEN}",
            "/messages",
            logs / "demo-inbox.log",
        ),
        Child(
            "demo-aws",
            [*py, "agent.demo.ce", "--listen", DEMO_CE_LISTEN],
            f"http://{DEMO_CE_LISTEN}",
            "/moto-api/",
            logs / "demo-aws.log",
            after_ready=lambda: ce.seed(f"http://{DEMO_CE_LISTEN}", today),
        ),
    ]


def start_demo_driver(config: Config, data_dir: Path, stop: threading.Event) -> threading.Thread:
    """Heal the demo's failing source once its alert reached the receivers it escalates to."""
    from agent.demo import sandbox

    severity = config.alerts.packs.exporters.severity
    kinds = [config.notify.receivers[n].kind for n in config.notify.escalation.get(severity, [])]
    thread = threading.Thread(
        target=sandbox.heal_when_delivered,
        args=(
            f"http://{DEMO_INBOX_LISTEN}",
            data_dir / "demo" / "sandbox",
            dt.datetime.now(dt.UTC).date(),
            kinds,
            stop,
        ),
        name="demo-driver",
        daemon=True,
    )
    thread.start()
    return thread


def post_demo_events(agent: str) -> int:
    """Send the demo DORA history through the real ingest API; return how many."""
    from exporters.dora.demo import demo_events

    events = demo_events(dt.datetime.now(dt.UTC))
    request = urllib.request.Request(
        f"http://{agent}/api/v1/events",
        data=json.dumps(events).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return len(events)


def run(args: argparse.Namespace) -> int:
    repo = Path.cwd()
    if args.demo:
        if absent := [m for m in ("moto", "cryptography") if not importlib.util.find_spec(m)]:
            print(f"opslens up --demo: {', '.join(absent)} not found; {DEMO_HINT}", file=sys.stderr)
            return EXIT_MISSING
        data_dir = (args.data_dir or Path(".opslens-demo")).resolve()
        config_path = prepare_demo(data_dir, repo)
        try:
            config = parse(config_path.read_text(encoding="utf-8"), str(config_path))
        except ConfigError as exc:  # a broken built-in demo is a bug: say so plainly
            print(exc, file=sys.stderr)
            return EXIT_INVALID
    else:
        loaded = load_or_report(args.config)
        if loaded is None:
            return EXIT_INVALID
        config, config_path = loaded, args.config.resolve()
        data_dir = (args.data_dir or (config_path.parent / config.agent.data_dir)).resolve()
    secrets_dir = data_dir / "secrets"
    hosts = native(config.agent.listen, str(secrets_dir))
    agent_env = provision_incident_token(config, secrets_dir)
    if args.demo:
        agent_env |= DEMO_AWS_ENV
    children, missing = plan(config, config_path, data_dir, hosts, agent_env)
    if missing:
        print(f"opslens up: {', '.join(missing)} not found; {INSTALL_HINT}", file=sys.stderr)
        return EXIT_MISSING
    if args.demo:
        # First, so the agent's probes of the demo services succeed from its first poll.
        children[:0] = demo_children(data_dir)
    taken = [c for c in children if port_in_use(c.hostport)]
    if args.demo and port_in_use(DEMO_SMTP_LISTEN):
        print(f"opslens up: {DEMO_SMTP_LISTEN} is already in use (demo SMTP)", file=sys.stderr)
        return 1
    if taken:
        for child in taken:
            print(
                f"opslens up: {child.hostport} is already in use "
                f"(needed by {child.name}); stop what listens there first",
                file=sys.stderr,
            )
        return 1
    write(render_all(config, hosts), data_dir / "generated")
    if any(c.name == "grafana" for c in children):
        prepare_grafana(data_dir / "generated", data_dir)
    stop = {"now": False}
    driver_stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop["now"] = True
        driver_stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        with running(children):
            if args.demo:
                count = post_demo_events(hosts.agent)
                print(f"demo: sent {count} DORA events; billing and traffic are being generated")
                start_demo_driver(config, data_dir, driver_stop)
                print(f"demo: notifications land in http://{DEMO_INBOX_LISTEN}/messages")
            print("OpsLens is up:")
            for child in children:
                print(f"  {child.name:<13} {child.url}/   (log: {child.log})")
            grafana = next((c for c in children if c.name == "grafana"), None)
            if grafana:
                print(f"  grafana admin password: {grafana.env['GF_SECURITY_ADMIN_PASSWORD']}")
            print("Press Ctrl-C to stop.")
            deadline = time.monotonic() + args.duration if args.duration else None
            while not stop["now"] and (deadline is None or time.monotonic() < deadline):
                dead = [c for c in children if c.proc and c.proc.poll() is not None]
                if dead:
                    print(f"opslens up: {dead[0].name} exited; see {dead[0].log}", file=sys.stderr)
                    return 1
                time.sleep(0.5)
    except RuntimeError as exc:
        print(f"opslens up: {exc}", file=sys.stderr)
        return 1
    finally:
        driver_stop.set()
    print("stopped")
    return 0
