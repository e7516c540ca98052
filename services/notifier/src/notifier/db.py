"""The notifier schema: every table of this service lives in PostgreSQL schema ``notifier``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from contracts.db import processed_events_table, service_metadata
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

SCHEMA = "notifier"
# LISTEN/NOTIFY channel: the consumer notifies it in the transaction that adds e-mails
# (delivered at commit), the mailer listens.
MAIL_CHANNEL = "notifier_email"

metadata = service_metadata(SCHEMA)
processed_events = processed_events_table(metadata)


async def _db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent (``scope=
    "function"``), so "mark read" is visible to the very next request."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


DbSession = Annotated[AsyncSession, Depends(_db_session, scope="function")]
