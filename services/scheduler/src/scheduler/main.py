"""The scheduler's HTTP app: ``uvicorn scheduler.main:create_app --factory``.

Health (``/health/live``, ``/health/ready``) and docs only: the scheduler has no public API.
Its work happens in ``python -m scheduler.events.consumer`` (tracks tasks) and
``python -m scheduler.scanner`` (emits reminders)."""

from __future__ import annotations

from chassis.auth import TokenVerifier
from chassis.http import create_service_app
from fastapi import FastAPI

from scheduler.config import SchedulerSettings

DESCRIPTION = ("Due-date reminders. Tracks tasks from `boards.events` and emits "
               "`reminder.due_soon` (once per task and due date, when the due date enters "
               "the reminder window) and `reminder.overdue` (once, when it passes) on "
               "`scheduler.events`. No public endpoints besides health and docs.")


# The worker processes of this service, whose heartbeats /health/ready reports.
WORKER_KINDS = ("relay", "consumer", "scanner")

def create_app(settings: SchedulerSettings | None = None, *,
               token_verifier: TokenVerifier | None = None) -> FastAPI:
    settings = settings or SchedulerSettings()
    return create_service_app(service="scheduler", settings=settings, workers=WORKER_KINDS,
                              routers=[],
                              title="Scheduler", description=DESCRIPTION,
                              token_verifier=token_verifier)
