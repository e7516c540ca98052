"""Publishing: every change writes its event to the outbox in the request's transaction
(stream ``workspace.events``); the relay (``python -m chassis.relay --schema workspace``)
puts it on Redis."""

from __future__ import annotations

import uuid

from chassis.http import current_request_id
from chassis.outbox import add_event
from contracts.events import Payload, make_event
from contracts.streams import WORKSPACE_EVENTS
from sqlalchemy.ext.asyncio import AsyncSession

from workspace.db import PRODUCER, outbox


async def publish(session: AsyncSession, event_type: str, payload: Payload, *,
                  actor_id: uuid.UUID | None) -> None:
    """Record one event, correlated with the current request id."""
    await add_event(session, outbox, WORKSPACE_EVENTS, make_event(
        event_type, payload, producer=PRODUCER, actor_id=actor_id,
        correlation_id=current_request_id()))
