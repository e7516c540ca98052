"""The tracked-task read model, fed by boards' ``task.*`` events (each a full snapshot).

* A snapshot replaces the stored row only if its ``version`` is not older, and never revives
  a deleted task: redelivery and reclaim-induced reordering are harmless.
* A changed ``due_at`` clears ``due_soon_sent_for`` and ``overdue_sent_for``: both reminders
  are re-armed for the new date. Unassigning keeps the marks but takes the row out of the
  pending indexes (no assignee, no reminder); deletion makes it a tombstone."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from contracts.events import TaskSnapshot
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.models import tracked_tasks as t


async def apply_snapshot(session: AsyncSession, task: TaskSnapshot) -> None:
    statement = insert(t).values(
        task_id=task.task_id, project_id=task.project_id, board_id=task.board_id,
        list_id=task.list_id, title=task.title, assignee_id=task.assignee_id,
        due_at=task.due_at, version=task.version)
    new = statement.excluded
    due_changed = t.c.due_at.is_distinct_from(new.due_at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[t.c.task_id],
        set_={"project_id": new.project_id, "board_id": new.board_id,
              "list_id": new.list_id, "title": new.title, "assignee_id": new.assignee_id,
              "due_at": new.due_at, "version": new.version, "updated_at": sa.func.now(),
              "due_soon_sent_for": sa.case((due_changed, None),
                                           else_=t.c.due_soon_sent_for),
              "overdue_sent_for": sa.case((due_changed, None), else_=t.c.overdue_sent_for)},
        where=sa.and_(t.c.version <= new.version, t.c.deleted.is_(False))))


async def mark_deleted(session: AsyncSession, task: TaskSnapshot) -> None:
    """``task.deleted``: a tombstone, whatever order the events arrive in."""
    statement = insert(t).values(
        task_id=task.task_id, project_id=task.project_id, board_id=task.board_id,
        list_id=task.list_id, title=task.title, assignee_id=task.assignee_id,
        due_at=task.due_at, version=task.version, deleted=True)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[t.c.task_id],
        set_={"deleted": True, "updated_at": sa.func.now(),
              "version": sa.func.greatest(t.c.version, statement.excluded.version)}))


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
