"""The boards API: ``uvicorn boards.main:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from chassis.auth import TokenVerifier
from chassis.http import create_service_app
from fastapi import FastAPI

from boards.api import activity, boards, comments, lists, tasks
from boards.config import BoardsSettings
from boards.service.access import Workspace

DESCRIPTION = ("Boards, lists (with WIP limits), tasks (ordered by opaque rank strings, "
               "versioned with ETag/If-Match), comments and the per-project activity log. "
               "Permissions come from project roles (viewer, editor, admin) kept in a local "
               "read model fed by workspace events.")


def create_app(settings: BoardsSettings | None = None, *,
               token_verifier: TokenVerifier | None = None,
               workspace_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """``workspace_transport`` lets tests answer the read-through without a network."""
    settings = settings or BoardsSettings()
    app = create_service_app(
        service="boards", settings=settings,
        routers=[boards.router, lists.router, tasks.router, comments.router, activity.router],
        title="Boards", description=DESCRIPTION, token_verifier=token_verifier)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            app.state.workspace = Workspace(settings.workspace_url,
                                            timeout=settings.workspace_timeout_seconds,
                                            transport=workspace_transport)
            try:
                yield state
            finally:
                await app.state.workspace.aclose()

    app.router.lifespan_context = lifespan
    return app
