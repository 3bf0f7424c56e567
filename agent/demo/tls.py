"""Demo HTTPS endpoint whose self-signed certificate expires soon, for the probe pack.

    python -m agent.demo.tls --listen 127.0.0.1:10481 --dir DIR

Serves `GET /healthz` over TLS with DIR/cert.pem and DIR/key.pem, which `mint` wrote
before the agent started (cert.pem is the probe's `ca_file`). `opslens up --demo` mints a
certificate that expires in 5 days: the probe succeeds and reports that expiry, inside the
default 14-day warning, which fires the certificate-expiry alert.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporters.app.demo import until_signalled

DEFAULT_LISTEN = "127.0.0.1:10481"


def mint(directory: Path, host: str, days: float, now: dt.datetime) -> tuple[Path, Path]:
    """Write a self-signed certificate for `host` valid until `now + days`; return its paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"opslens demo {host}")])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        # Self-signed and its own trust anchor: OpenSSL wants a CA to verify the chain.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def app() -> web.Application:
    application = web.Application()
    application.router.add_get("/healthz", healthz)
    return application


async def serve(listen: str, context: ssl.SSLContext) -> None:
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, int(port), ssl_context=context).start()
    try:
        await until_signalled()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.demo.tls", description=__doc__)
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help="HOST:PORT (default %(default)s)")
    parser.add_argument("--dir", type=Path, required=True, help="holds cert.pem and key.pem")
    args = parser.parse_args(argv)
    context = server_context(args.dir / "cert.pem", args.dir / "key.pem")
    asyncio.run(serve(args.listen, context))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
