"""E-mails: composing one notification as a MIME message (plain text + HTML alternative),
sending it over SMTP with aiosmtplib, and telling transient failures from permanent ones."""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import aiosmtplib

from notifier.config import NotifierSettings

TYPE_LABELS = {
    "task_assigned": "task assignments",
    "due_soon": "due-soon reminders",
    "overdue": "overdue reminders",
    "comment": "comments on your tasks",
    "membership": "team and project memberships",
}


@dataclass(frozen=True)
class OutgoingEmail:
    """What the mailer needs of one ``email_outbox`` row (joined with its notification and
    the recipient's directory entry)."""

    outbox_id: int
    notification_id: uuid.UUID
    user_id: uuid.UUID
    message_id: str
    type: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    to_address: str | None
    to_name: str | None
    # This attempt's number (1 for the first).
    attempts: int = 1


def _one_line(text: str) -> str:
    """Header-safe: no CR/LF (header injection), runs of whitespace collapsed."""
    return " ".join(text.split())


def render_text(mail: OutgoingEmail) -> str:
    greeting = f"Hi {mail.to_name}," if mail.to_name else "Hi,"
    label = TYPE_LABELS.get(mail.type, mail.type)
    return (f"{greeting}\n\n{mail.body}\n\n-- \nYou get this e-mail because e-mails for "
            f"{label} are on in your Kanban notification preferences.\n")


def render_html(mail: OutgoingEmail) -> str:
    greeting = f"Hi {html.escape(mail.to_name)}," if mail.to_name else "Hi,"
    label = html.escape(TYPE_LABELS.get(mail.type, mail.type))
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(mail.title)}</title></head>\n"
        "<body style=\"font-family: sans-serif; line-height: 1.4\">\n"
        f"<p>{greeting}</p>\n"
        f"<h2 style=\"font-size: 1.1em\">{html.escape(mail.title)}</h2>\n"
        f"<p>{html.escape(mail.body)}</p>\n"
        f"<hr><p style=\"color: #666; font-size: 0.85em\">You get this e-mail because e-mails "
        f"for {label} are on in your Kanban notification preferences.</p>\n"
        "</body></html>\n")


def compose(mail: OutgoingEmail, settings: NotifierSettings) -> EmailMessage:
    """The message, identical on every attempt: same Message-ID and Date (the notification's
    creation time), so a resend is recognisably the same e-mail."""
    if not mail.to_address:
        raise ValueError("no recipient address")
    message = EmailMessage()
    message["From"] = settings.mail_from
    name = _one_line(mail.to_name or "")
    message["To"] = formataddr((name, mail.to_address)) if name else \
        str(Address(addr_spec=mail.to_address))
    message["Subject"] = _one_line(mail.title)
    message["Message-ID"] = mail.message_id
    message["Date"] = format_datetime(mail.created_at.astimezone(UTC))
    message["Auto-Submitted"] = "auto-generated"
    message["X-Kanban-Notification-Id"] = str(mail.notification_id)
    message["X-Kanban-Notification-Type"] = mail.type
    message.set_content(render_text(mail))
    message.add_alternative(render_html(mail), subtype="html")
    return message


async def send(message: EmailMessage, settings: NotifierSettings) -> None:
    """Hand ``message`` to the SMTP server (one connection per message)."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    await aiosmtplib.send(
        message, hostname=settings.smtp_host, port=settings.smtp_port,
        use_tls=settings.smtp_tls, start_tls=settings.smtp_starttls,
        validate_certs=settings.smtp_validate_certs,
        username=settings.smtp_username or None, password=password,
        timeout=settings.smtp_timeout_seconds)


class UnknownRecipient(Exception):
    """The recipient's address is not in the directory (yet): retried like a 4xx."""


def is_permanent(exc: BaseException) -> bool:
    """5xx answers are permanent; connection problems, timeouts and 4xx are transient."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 500 <= exc.code < 600
    return False


def describe(exc: BaseException) -> str:
    """A short, recordable description of a failure (no secrets: SMTP answers only)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r.code} {r.message} ({r.recipient})" for r in exc.recipients)[:1000]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]
