"""The per-project activity log: one entry per event, written in the transaction of the
change (or, for membership changes, of the consumer handling the workspace event).

An entry's ``id`` is the id of the event that caused it and its ``verb`` the event type.
Summaries name people from the local user directory (fed by identity events)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from chassis.pagination import PageParams, keyset_page
from contracts.events import Envelope, Payload
from sqlalchemy.ext.asyncio import AsyncSession

from boards.db import publisher
from boards.models import activity, users

SOMEONE = "Someone"


def quoted(text: str) -> str:
    return f"\u201c{text}\u201d"


async def user_names(session: AsyncSession,
                     ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(sa.select(users.c.id, users.c.full_name)
                                 .where(users.c.id.in_(wanted)))
    return {row.id: row.full_name for row in rows}


async def user_name(session: AsyncSession, user_id: uuid.UUID | None) -> str:
    return (await user_names(session, [user_id])).get(user_id, SOMEONE) if user_id \
        else SOMEONE


async def record(session: AsyncSession, envelope: Envelope, *, project_id: uuid.UUID,
                 entity_type: str, entity_id: uuid.UUID, summary: str,
                 data: dict[str, Any] | None = None, verb: str | None = None) -> None:
    """One activity entry for ``envelope`` (its id and type become the entry's id and verb)."""
    await session.execute(activity.insert().values(
        id=envelope.event_id, project_id=project_id, actor_id=envelope.actor_id,
        verb=verb or envelope.type, entity_type=entity_type, entity_id=entity_id,
        summary=summary, data=data if data is not None else envelope.data,
        created_at=envelope.occurred_at))


async def emit_and_record(session: AsyncSession, event_type: str, payload: Payload, *,
                          actor_id: uuid.UUID | None, project_id: uuid.UUID,
                          entity_type: str, entity_id: uuid.UUID, summary: str,
                          extra: dict[str, Any] | None = None) -> Envelope:
    """Publish an event and log it in the project's activity, in the caller's transaction."""
    envelope = await publisher.publish(session, event_type, payload, actor_id=actor_id)
    await record(session, envelope, project_id=project_id, entity_type=entity_type,
                 entity_id=entity_id, summary=summary, data={**envelope.data, **(extra or {})})
    return envelope


async def list_activity(session: AsyncSession, project_id: uuid.UUID,
                        paging: PageParams) -> tuple[list[Any], str | None]:
    """Newest first, keyset-paged on the insertion sequence."""
    query = sa.select(activity).where(activity.c.project_id == project_id)
    return await keyset_page(session, query, paging, activity.c.seq, descending=True)
