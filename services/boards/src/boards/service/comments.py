"""Comments on tasks: any project role may comment; only the author edits; the author or a
project admin deletes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chassis.errors import Forbidden, NotFound
from chassis.pagination import PageParams
from contracts.events import CommentChanged
from sqlalchemy.ext.asyncio import AsyncSession

from boards.models import comments, tasks
from boards.service.access import ADMIN, Caller, local_role
from boards.service.activity import (
    emit_and_record,
    quoted,
    user_name,
)
from boards.service.paging import created_key, cursor_key, page


async def get_comment(session: AsyncSession, comment_id: uuid.UUID, *,
                      lock: bool = False) -> sa.Row[Any]:
    query = sa.select(comments).where(comments.c.id == comment_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("Comment not found")
    return row


async def _payload(session: AsyncSession, comment: Any, task: Any) -> CommentChanged:
    # A removed member's tasks are unassigned, so the assignee always holds a role; the
    # creator may have left the project since (read model: effective roles, implicit too).
    creator_role = await local_role(session, task.project_id, task.created_by)
    return CommentChanged(comment_id=comment.id, task_id=task.id, project_id=task.project_id,
                          task_title=task.title, author_id=comment.author_id,
                          task_assignee_id=task.assignee_id, task_created_by=task.created_by,
                          body=comment.body, task_creator_in_project=creator_role is not None)


async def _task_of(session: AsyncSession, comment: Any) -> sa.Row[Any]:
    return (await session.execute(sa.select(tasks).where(tasks.c.id == comment.task_id))).one()


async def create_comment(session: AsyncSession, caller: Caller, task: sa.Row[Any],
                         body: str) -> sa.Row[Any]:
    row = (await session.execute(comments.insert().values(
        id=uuid.uuid4(), task_id=task.id, project_id=task.project_id,
        author_id=caller.user_id, body=body,
        created_at=sa.func.clock_timestamp(), updated_at=sa.func.clock_timestamp(),
    ).returning(comments))).one()
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "comment.created", await _payload(session, row, task), actor_id=caller.user_id,
        project_id=task.project_id, entity_type="comment", entity_id=row.id,
        summary=f"{actor} commented on {quoted(task.title)}")
    return row


async def list_comments(session: AsyncSession, task_id: uuid.UUID,
                        paging: PageParams) -> tuple[list[Any], str | None]:
    """Oldest first."""
    query = sa.select(comments).where(comments.c.task_id == task_id)
    key = cursor_key(paging, datetime, uuid.UUID)
    if key is not None:
        query = query.where(sa.tuple_(comments.c.created_at, comments.c.id) > sa.tuple_(*key))
    rows = (await session.execute(query.order_by(comments.c.created_at, comments.c.id)
                                  .limit(paging.limit + 1))).all()
    return page(rows, paging, created_key)


async def edit_comment(session: AsyncSession, caller: Caller, comment: sa.Row[Any],
                       body: str) -> sa.Row[Any]:
    """Only the author; emits ``comment.updated`` (and its activity entry)."""
    if comment.author_id != caller.user_id:
        raise Forbidden("Only the author may edit a comment")
    current = await get_comment(session, comment.id, lock=True)
    if current.body == body:
        return current
    row = (await session.execute(
        comments.update().where(comments.c.id == current.id)
        .values(body=body, updated_at=sa.func.clock_timestamp()).returning(comments))).one()
    task = await _task_of(session, row)
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "comment.updated", await _payload(session, row, task), actor_id=caller.user_id,
        project_id=task.project_id, entity_type="comment", entity_id=row.id,
        summary=f"{actor} edited a comment on {quoted(task.title)}")
    return row


async def delete_comment(session: AsyncSession, caller: Caller, comment: sa.Row[Any],
                         role: str) -> None:
    if comment.author_id != caller.user_id and role != ADMIN:
        raise Forbidden("Only the author or a project admin may delete a comment")
    current = await get_comment(session, comment.id, lock=True)
    task = await _task_of(session, current)
    await session.execute(comments.delete().where(comments.c.id == current.id))
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "comment.deleted", await _payload(session, current, task), actor_id=caller.user_id,
        project_id=task.project_id, entity_type="comment", entity_id=current.id,
        summary=f"{actor} deleted a comment on {quoted(task.title)}")
