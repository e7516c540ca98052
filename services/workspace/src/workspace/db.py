"""The workspace schema: every table of this service lives in PostgreSQL schema ``workspace``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from contracts.db import outbox_table, processed_events_table, service_metadata
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

SCHEMA = "workspace"
PRODUCER = "workspace"

metadata = service_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)


async def _db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent.

    ``contracts.http.DbSession`` has FastAPI's default (request) scope, which commits only
    after the response has gone out: a client could then be told 201 for a change the next
    request does not see yet (or ever, if the commit fails). ``scope="function"`` commits first,
    and a commit-time error still becomes a problem+json answer."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


DbSession = Annotated[AsyncSession, Depends(_db_session, scope="function")]
