"""The notifier's copy of the tasks it may have to talk about: title, assignee, creator.

Fed by every ``task.*`` event of boards (each carries a full :class:`TaskSnapshot`). A snapshot
replaces the stored one only if its ``version`` is newer, and a deleted task stays deleted
(a late ``task.updated`` cannot bring it back), so redelivery out of order is harmless
(:mod:`chassis.read_model`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from chassis.read_model import upsert_if_newer
from contracts.events import TaskSnapshot
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import tasks


@dataclass(frozen=True)
class KnownTask:
    task_id: uuid.UUID
    title: str
    assignee_id: uuid.UUID | None
    created_by: uuid.UUID
    deleted: bool


def _row(task: TaskSnapshot) -> dict[str, object]:
    return {"task_id": task.task_id, "project_id": task.project_id, "title": task.title,
            "assignee_id": task.assignee_id, "created_by": task.created_by,
            "version": task.version}


async def apply_snapshot(session: AsyncSession, task: TaskSnapshot) -> None:
    await upsert_if_newer(session, tasks, _row(task), key=["task_id"], stamp="version",
                          tombstone=tasks.c.deleted)


async def mark_deleted(session: AsyncSession, task: TaskSnapshot) -> None:
    """``task.deleted``: a tombstone, whatever order the events arrive in."""
    await upsert_if_newer(session, tasks, {**_row(task), "deleted": True}, key=["task_id"],
                          stamp="version", deletion=True, update={"deleted": True})


async def get_task(session: AsyncSession, task_id: uuid.UUID) -> KnownTask | None:
    row = (await session.execute(sa.select(tasks).where(tasks.c.task_id == task_id))).first()
    if row is None:
        return None
    return KnownTask(row.task_id, row.title, row.assignee_id, row.created_by, row.deleted)
