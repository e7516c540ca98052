"""The notifier's copy of the tasks it may have to talk about: title, assignee, creator.

Fed by every ``task.*`` event of boards (each carries a full :class:`TaskSnapshot`). A snapshot
replaces the stored one only if its ``version`` is not older, and a deleted task stays deleted
(a late ``task.updated`` cannot bring it back), so redelivery out of order is harmless."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from contracts.events import TaskSnapshot
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import tasks


@dataclass(frozen=True)
class KnownTask:
    task_id: uuid.UUID
    title: str
    assignee_id: uuid.UUID | None
    created_by: uuid.UUID
    deleted: bool


async def apply_snapshot(session: AsyncSession, snapshot: TaskSnapshot, *,
                         deleted: bool = False) -> None:
    statement = insert(tasks).values(
        task_id=snapshot.task_id, project_id=snapshot.project_id, title=snapshot.title,
        assignee_id=snapshot.assignee_id, created_by=snapshot.created_by,
        version=snapshot.version, deleted=deleted)
    if deleted:
        # Deletion wins whatever the version: nothing follows a task's deletion.
        statement = statement.on_conflict_do_update(
            index_elements=[tasks.c.task_id],
            set_={"deleted": True, "version": sa.func.greatest(tasks.c.version,
                                                               statement.excluded.version)})
    else:
        statement = statement.on_conflict_do_update(
            index_elements=[tasks.c.task_id],
            set_={"project_id": statement.excluded.project_id,
                  "title": statement.excluded.title,
                  "assignee_id": statement.excluded.assignee_id,
                  "created_by": statement.excluded.created_by,
                  "version": statement.excluded.version},
            where=sa.and_(tasks.c.version <= statement.excluded.version,
                          tasks.c.deleted.is_(False)))
    await session.execute(statement)


async def get_task(session: AsyncSession, task_id: uuid.UUID) -> KnownTask | None:
    row = (await session.execute(sa.select(tasks).where(tasks.c.task_id == task_id))).first()
    if row is None:
        return None
    return KnownTask(row.task_id, row.title, row.assignee_id, row.created_by, row.deleted)
