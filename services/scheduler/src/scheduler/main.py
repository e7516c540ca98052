"""The scheduler's HTTP app: ``python -m chassis.serve scheduler --role api``.

Health (``/health/live``, ``/health/ready``) and docs only: the scheduler has no public API.
Its work happens in its workers: the consumer (tracks tasks) and the scanner (emits
reminders)."""

from __future__ import annotations

from collections.abc import Callable

from chassis.auth import TokenVerifier
from chassis.http import create_service_app
from chassis.relay import OutboxRelay
from chassis.worker import Worker
from fastapi import FastAPI

from scheduler.config import SchedulerSettings
from scheduler.events.consumer import build_consumer
from scheduler.scanner import Scanner

DESCRIPTION = ("Due-date reminders. Tracks tasks from `boards.events` and emits "
               "`reminder.due_soon` (once per task and due date, when the due date enters "
               "the reminder window) and `reminder.overdue` (once, when it passes) on "
               "`scheduler.events`. No public endpoints besides health and docs.")


# The service's worker kinds (roles of ``python -m chassis.serve``), each built in the process
# that runs it; /health/ready reports their heartbeats.
WORKERS: dict[str, Callable[[], Worker]] = {
    "relay": lambda: OutboxRelay.for_service("scheduler"),
    "consumer": build_consumer,
    "scanner": lambda: Scanner(SchedulerSettings()),
}


def create_app(settings: SchedulerSettings | None = None, *,
               token_verifier: TokenVerifier | None = None) -> FastAPI:
    settings = settings or SchedulerSettings()
    return create_service_app(service="scheduler", settings=settings, workers=tuple(WORKERS),
                              routers=[],
                              title="Scheduler", description=DESCRIPTION,
                              token_verifier=token_verifier)
