"""What every task event carries (a :class:`contracts.events.TaskSnapshot` of the row), and
the ``task.deleted`` events of tasks that go with their list or board."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from contracts.events import TaskSnapshot
from sqlalchemy.ext.asyncio import AsyncSession

from boards.db import publisher
from boards.models import tasks

_SNAPSHOT_FIELDS = ("project_id", "board_id", "list_id", "title", "assignee_id", "due_at",
                    "created_by", "version")


def snapshot(row: Any) -> dict[str, Any]:
    """The TaskSnapshot fields of a task row."""
    return {"task_id": row.id, **{name: getattr(row, name) for name in _SNAPSHOT_FIELDS}}


async def announce_cascade_deletion(session: AsyncSession, actor_id: uuid.UUID,
                                    condition: sa.ColumnElement[bool]) -> int:
    """``task.deleted`` for every task about to go with its list or board (the caller's
    parent row is locked FOR UPDATE, so no task can join meanwhile). The parent's own
    activity entry covers them; returns how many."""
    rows = (await session.execute(sa.select(tasks).where(condition))).all()
    await publisher.publish_many(
        session, [("task.deleted", TaskSnapshot(**snapshot(row))) for row in rows],
        actor_id=actor_id)
    return len(rows)
