"""The boards API: ``python -m chassis.serve boards --role api``."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from chassis.auth import TokenVerifier
from chassis.http import create_service_app
from chassis.relay import OutboxRelay
from chassis.service_client import attach_client
from chassis.worker import Worker
from fastapi import FastAPI

from boards.api import activity, boards, comments, lists, tasks
from boards.config import BoardsSettings
from boards.events.consumer import BoardsConsumer
from boards.service.workspace_client import WorkspaceClient

DESCRIPTION = ("Boards, lists (with WIP limits), tasks (ordered by opaque rank strings, "
               "versioned with ETag/If-Match), comments and the per-project activity log. "
               "Permissions come from project roles (viewer, editor, admin) kept in a local "
               "read model fed by workspace events.")


# The service's worker kinds (roles of ``python -m chassis.serve``), each built in the process
# that runs it; /health/ready reports their heartbeats.
WORKERS: dict[str, Callable[[], Worker]] = {
    "relay": lambda: OutboxRelay.for_service("boards"),
    "consumer": lambda: BoardsConsumer(BoardsSettings()),
}


def create_app(settings: BoardsSettings | None = None, *,
               token_verifier: TokenVerifier | None = None,
               workspace_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """``workspace_transport`` lets tests answer the read-through without a network."""
    settings = settings or BoardsSettings()
    app = create_service_app(
        service="boards", settings=settings, workers=tuple(WORKERS),
        routers=[boards.router, lists.router, tasks.router, comments.router, activity.router],
        title="Boards", description=DESCRIPTION, token_verifier=token_verifier)
    attach_client(app, "workspace", lambda: WorkspaceClient(
        "workspace", settings.workspace_url, timeout=settings.workspace_timeout_seconds,
        transport=workspace_transport))
    return app
