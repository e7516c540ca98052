"""The notifier API: ``python -m chassis.serve notifier --role api``.

The API only reads and marks notifications and edits preferences. Notifications are made by
the consumer worker and e-mails are sent by the mailer worker, never from a request."""

from __future__ import annotations

from collections.abc import Callable

from chassis.auth import TokenVerifier
from chassis.http import create_service_app
from chassis.worker import Worker
from fastapi import FastAPI

from notifier.api import notifications
from notifier.config import NotifierSettings
from notifier.events.consumer import build_consumer
from notifier.mailer import Mailer

DESCRIPTION = ("In-app notifications (task assignments, due-soon and overdue reminders, "
               "comments on my tasks, team and project memberships) and the e-mail "
               "preferences per notification type. E-mails are sent over SMTP by the "
               "notifier's mailer worker.")


# The service's worker kinds (roles of ``python -m chassis.serve``), each built in the process
# that runs it; /health/ready reports their heartbeats.
WORKERS: dict[str, Callable[[], Worker]] = {
    "consumer": build_consumer,
    "mailer": lambda: Mailer(NotifierSettings()),
}


def create_app(settings: NotifierSettings | None = None, *,
               token_verifier: TokenVerifier | None = None) -> FastAPI:
    """The app. Tests pass a ``token_verifier`` with their own keys."""
    settings = settings or NotifierSettings()
    return create_service_app(service="notifier", settings=settings, workers=tuple(WORKERS),
                              routers=[notifications.router], title="Notifier",
                              description=DESCRIPTION, token_verifier=token_verifier)
