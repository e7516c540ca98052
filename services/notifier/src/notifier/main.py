"""The notifier API: ``uvicorn notifier.main:create_app --factory``.

The API only reads and marks notifications and edits preferences. Notifications are made by
the consumer (``python -m notifier.events.consumer``) and e-mails are sent by the mailer
(``python -m notifier.mailer``), never from a request."""

from __future__ import annotations

from chassis.auth import TokenVerifier
from chassis.http import create_service_app
from fastapi import FastAPI

from notifier.api import notifications
from notifier.config import NotifierSettings

DESCRIPTION = ("In-app notifications (task assignments, due-soon and overdue reminders, "
               "comments on my tasks, team and project memberships) and the e-mail "
               "preferences per notification type. E-mails are sent over SMTP by the "
               "notifier's mailer worker.")


# The worker processes of this service, whose heartbeats /health/ready reports.
WORKER_KINDS = ("consumer", "mailer")

def create_app(settings: NotifierSettings | None = None, *,
               token_verifier: TokenVerifier | None = None) -> FastAPI:
    """The app. Tests pass a ``token_verifier`` with their own keys."""
    settings = settings or NotifierSettings()
    return create_service_app(service="notifier", settings=settings, workers=WORKER_KINDS,
                              routers=[notifications.router], title="Notifier",
                              description=DESCRIPTION, token_verifier=token_verifier)
