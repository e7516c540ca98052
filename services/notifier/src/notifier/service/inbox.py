"""The in-app inbox of one user: list (newest first, keyset-paginated), unread count, mark
read. Every query is scoped to the caller: another user's notification does not exist."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from chassis.errors import NotFound
from chassis.pagination import PageParams, keyset_page
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import email_outbox, notifications

NOT_FOUND = "No such notification"


def _as_dict(row: sa.Row[Any]) -> dict[str, Any]:
    return {"id": row.id, "type": row.type, "title": row.title, "body": row.body,
            "data": row.data, "read": row.read_at is not None,
            "created_at": row.created_at.astimezone(UTC),
            "read_at": row.read_at.astimezone(UTC) if row.read_at else None,
            "email_status": row.email_status}


async def list_notifications(session: AsyncSession, user_id: uuid.UUID, paging: PageParams,
                             *, unread: bool | None) -> tuple[list[dict[str, Any]], str | None]:
    query = (
        sa.select(notifications, email_outbox.c.status.label("email_status"))
        .select_from(notifications.outerjoin(
            email_outbox, email_outbox.c.notification_id == notifications.c.id))
        .where(notifications.c.user_id == user_id))
    if unread is True:
        query = query.where(notifications.c.read_at.is_(None))
    elif unread is False:
        query = query.where(notifications.c.read_at.is_not(None))
    rows, next_cursor = await keyset_page(session, query, paging, notifications.c.created_at,
                                          notifications.c.id, descending=True)
    return [_as_dict(row) for row in rows], next_cursor


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int((await session.execute(
        sa.select(sa.func.count()).select_from(notifications)
        .where(notifications.c.user_id == user_id, notifications.c.read_at.is_(None))
    )).scalar_one())


async def mark_read(session: AsyncSession, user_id: uuid.UUID,
                    notification_id: uuid.UUID) -> None:
    """Idempotent; 404 for an id that is not one of the caller's notifications."""
    updated = (await session.execute(
        notifications.update()
        .where(notifications.c.id == notification_id, notifications.c.user_id == user_id)
        .values(read_at=sa.func.coalesce(notifications.c.read_at, sa.func.now()))
        .returning(notifications.c.id))).first()
    if updated is None:
        raise NotFound(NOT_FOUND)


async def mark_all_read(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(
        notifications.update()
        .where(notifications.c.user_id == user_id, notifications.c.read_at.is_(None))
        .values(read_at=sa.func.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
