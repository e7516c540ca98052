"""The workspace API: ``python -m chassis.serve workspace --role api``."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from chassis.auth import TokenVerifier
from chassis.errors import problem
from chassis.http import create_service_app
from chassis.logging import get_logger
from chassis.relay import OutboxRelay
from chassis.service_client import attach_client
from chassis.worker import Worker
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from workspace.api import projects, teams
from workspace.config import WorkspaceSettings
from workspace.events.consumer import build_consumer
from workspace.service.identity_client import IdentityClient

log = get_logger(__name__)

DESCRIPTION = ("Teams, team members and roles (owner, admin, member), projects and project "
               "members and roles (admin, editor, viewer). A team's owner and admins are "
               "implicit admins of all its projects. Every change is published on the "
               "`workspace.events` stream.")


# The service's worker kinds (roles of ``python -m chassis.serve``), each built in the process
# that runs it; /health/ready reports their heartbeats.
WORKERS: dict[str, Callable[[], Worker]] = {
    "relay": lambda: OutboxRelay.for_service("workspace"),
    "consumer": build_consumer,
}


def create_app(settings: WorkspaceSettings | None = None, *,
               token_verifier: TokenVerifier | None = None,
               identity_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The app. Tests pass a ``token_verifier`` with their own keys and may serve identity's
    read-through endpoints from an in-process ``identity_transport``."""
    settings = settings or WorkspaceSettings()
    app = create_service_app(service="workspace", settings=settings, workers=tuple(WORKERS),
                             routers=[teams.router, projects.router], title="Workspace",
                             description=DESCRIPTION, token_verifier=token_verifier)
    attach_client(app, "identity", lambda: IdentityClient(
        "identity", settings.identity_url, timeout=settings.identity_timeout_seconds,
        transport=identity_transport))

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # Backstop for a race the row locks did not cover: a constraint said no -> 409.
        log.warning("integrity_conflict", error=str(exc.orig)[:300])
        return problem(409, "The change conflicts with the current state; reload and retry")

    return app
