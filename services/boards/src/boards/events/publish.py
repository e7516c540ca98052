"""Publishing: every event goes through the outbox, in the caller's transaction."""

from __future__ import annotations

import uuid

from chassis.http import current_request_id
from chassis.outbox import add_event
from contracts.events import Envelope, Payload, make_event
from contracts.streams import BOARDS_EVENTS
from sqlalchemy.ext.asyncio import AsyncSession

from boards.db import PRODUCER
from boards.models import outbox


async def emit(session: AsyncSession, event_type: str, payload: Payload, *,
               actor_id: uuid.UUID | None, correlation_id: str | None = None) -> Envelope:
    """Record ``event_type`` for publication on ``boards.events`` (atomically with the
    caller's changes). The correlation id defaults to the current request id."""
    envelope = make_event(event_type, payload, producer=PRODUCER, actor_id=actor_id,
                          correlation_id=correlation_id or current_request_id())
    await add_event(session, outbox, BOARDS_EVENTS, envelope)
    return envelope
