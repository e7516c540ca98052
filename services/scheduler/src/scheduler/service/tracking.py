"""The tracked-task read model, fed by boards' ``task.*`` events (each a full snapshot).

* A snapshot replaces the stored row only if its ``version`` is newer, and never revives a
  deleted task: redelivery and reclaim-induced reordering are harmless
  (:mod:`chassis.read_model`).
* A changed ``due_at`` clears ``due_soon_sent_for`` and ``overdue_sent_for``: both reminders
  are re-armed for the new date. Unassigning keeps the marks but takes the row out of the
  pending indexes (no assignee, no reminder); deletion makes it a tombstone."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from chassis.read_model import upsert_if_newer
from contracts.events import TaskSnapshot
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.models import tracked_tasks as t


def _row(task: TaskSnapshot) -> dict[str, object]:
    return {"task_id": task.task_id, "project_id": task.project_id, "board_id": task.board_id,
            "list_id": task.list_id, "title": task.title, "assignee_id": task.assignee_id,
            "due_at": task.due_at, "version": task.version}


async def apply_snapshot(session: AsyncSession, task: TaskSnapshot) -> None:
    due_changed = t.c.due_at.is_distinct_from(task.due_at)
    await upsert_if_newer(
        session, t, _row(task), key=["task_id"], stamp="version", tombstone=t.c.deleted,
        update={"updated_at": sa.func.now(),
                "due_soon_sent_for": sa.case((due_changed, None),
                                             else_=t.c.due_soon_sent_for),
                "overdue_sent_for": sa.case((due_changed, None), else_=t.c.overdue_sent_for)})


async def mark_deleted(session: AsyncSession, task: TaskSnapshot) -> None:
    """``task.deleted``: a tombstone, whatever order the events arrive in."""
    await upsert_if_newer(session, t, {**_row(task), "deleted": True}, key=["task_id"],
                          stamp="version", deletion=True,
                          update={"deleted": True, "updated_at": sa.func.now()})


async def delete_where(session: AsyncSession, *, list_id: uuid.UUID | None = None,
                       board_id: uuid.UUID | None = None,
                       project_id: uuid.UUID | None = None) -> int:
    """A deleted list, board or project takes its tasks with it."""
    column, value = ((t.c.list_id, list_id) if list_id else
                     (t.c.board_id, board_id) if board_id else (t.c.project_id, project_id))
    assert value is not None
    result = await session.execute(
        t.update().where(column == value, t.c.deleted.is_(False))
        .values(deleted=True, updated_at=sa.func.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
