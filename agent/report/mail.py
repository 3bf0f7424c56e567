"""Mail a rendered report through `notify.smtp`: text and HTML parts of one message."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from agent.config.notify import Smtp

from .model import Report


class MailError(Exception):
    """The message was not handed to the smarthost; the reason says what to fix."""


def build_message(
    report: Report, html: str, text: str, sender: str, recipients: Sequence[str]
) -> EmailMessage:
    """multipart/alternative: plain text first, HTML last, as clients prefer the last part."""
    msg = EmailMessage()
    subject = report.title
    if report.missing:
        subject = "[incomplete] " + subject
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(report.generated_at)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def smtp_password(smtp: Smtp, config_dir: Path) -> str | None:
    """Read the password from `auth_password_file` (relative to the config), never from YAML."""
    if smtp.auth_password_file is None:
        return None
    path = config_dir / smtp.auth_password_file
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise MailError(
            f"cannot read notify.smtp.auth_password_file {path}: {exc.strerror}"
        ) from None


def send(msg: EmailMessage, smtp: Smtp, password: str | None, timeout: float = 30.0) -> None:
    """Deliver `msg` to the smarthost: implicit TLS on 465, else STARTTLS when required."""
    host, _, port_text = smtp.smarthost.rpartition(":")
    host, port = host.strip("[]"), int(port_text)
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if port == 465:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if port != 465 and smtp.require_tls:
                if not client.has_extn("starttls"):
                    raise MailError(
                        f"{smtp.smarthost} does not offer STARTTLS and notify.smtp.require_tls "
                        "is true"
                    )
                client.starttls(context=context)
                client.ehlo()
            if smtp.auth_username:
                client.login(smtp.auth_username, password or "")
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"sending through {smtp.smarthost} failed: {exc}") from None
