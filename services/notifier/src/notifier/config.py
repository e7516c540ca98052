"""Notifier settings: the shared :class:`ServiceSettings` plus SMTP, the mailer's retry policy
and the rendering of e-mails. Environment variables carry the ``NOTIFIER_`` prefix
(``NOTIFIER_DATABASE_URL``, ``NOTIFIER_SMTP_HOST``...)."""

from __future__ import annotations

from chassis.settings import ServiceSettings
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

DEV_MAIL_FROM = "Kanban <no-reply@kanban.localhost>"


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    # --- SMTP (the mailer process only; nothing is sent from an HTTP request) -------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    # STARTTLS upgrade after connecting (submission port 587)...
    smtp_starttls: bool = False
    # ...or TLS from the first byte (port 465). At most one of the two.
    smtp_tls: bool = False
    smtp_validate_certs: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    mail_from: str = DEV_MAIL_FROM
    # Right-hand side of the Message-ID; defaults to the domain of ``mail_from``.
    message_id_domain: str | None = None

    # --- mailer -------------------------------------------------------------------------
    # Backstop poll when no NOTIFY arrives (new rows wake the mailer at commit).
    mailer_poll_seconds: float = Field(default=5.0, gt=0)
    mailer_batch_size: int = Field(default=50, ge=1, le=1000)
    # Messages sent concurrently by one mailer process.
    mailer_concurrency: int = Field(default=8, ge=1, le=100)
    # Transient failures retry after base * 2^(attempt-1) seconds, capped.
    mailer_backoff_base_seconds: float = Field(default=2.0, gt=0)
    mailer_backoff_max_seconds: float = Field(default=600.0, gt=0)
    # After this many attempts a transiently failing e-mail is given up as failed.
    mailer_max_attempts: int = Field(default=12, ge=1)
    # A row claimed ('sending') by a mailer that then died is taken over after this long.
    mailer_lease_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _one_tls_mode(self) -> NotifierSettings:
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("smtp_tls and smtp_starttls are exclusive: choose one")
        return self

    @property
    def message_id_host(self) -> str:
        if self.message_id_domain:
            return self.message_id_domain
        address = self.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
        return address.rsplit("@", 1)[-1] if "@" in address else "notifier.kanban"

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.mail_from == DEV_MAIL_FROM:
            problems.append("mail_from is the development default")
        if self.smtp_username and not (self.smtp_tls or self.smtp_starttls):
            problems.append("SMTP credentials would be sent without TLS")
        return problems
