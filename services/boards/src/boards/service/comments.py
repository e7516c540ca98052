"""Comments on tasks: any project role may comment; only the author edits; the author or a
project admin deletes (the API layer checks who may)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from chassis.db import Lock, get_row
from chassis.errors import NotFound
from chassis.pagination import PageParams, keyset_page
from contracts.events import CommentChanged
from sqlalchemy.ext.asyncio import AsyncSession

from boards.models import comments, tasks
from boards.service.access import Caller, local_role
from boards.service.activity import emit_and_record, quoted, user_name


async def get_comment(session: AsyncSession, comment_id: uuid.UUID, *,
                      lock: Lock | None = None) -> sa.Row[Any]:
    return await get_row(session, comments, comment_id,
                         missing=NotFound("Comment not found"), lock=lock)


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
    row: sa.Row[Any] = (await session.execute(comments.insert().values(
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
    return await keyset_page(session, query, paging, comments.c.created_at, comments.c.id)


async def edit_comment(session: AsyncSession, caller: Caller, comment: sa.Row[Any],
                       body: str) -> sa.Row[Any]:
    """Emits ``comment.updated`` (and its activity entry) if the body changed."""
    current = await get_comment(session, comment.id, lock="update")
    if current.body == body:
        return current
    row: sa.Row[Any] = (await session.execute(
        comments.update().where(comments.c.id == current.id)
        .values(body=body, updated_at=sa.func.clock_timestamp()).returning(comments))).one()
    task = await _task_of(session, row)
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "comment.updated", await _payload(session, row, task), actor_id=caller.user_id,
        project_id=task.project_id, entity_type="comment", entity_id=row.id,
        summary=f"{actor} edited a comment on {quoted(task.title)}")
    return row


async def delete_comment(session: AsyncSession, caller: Caller, comment: sa.Row[Any]) -> None:
    current = await get_comment(session, comment.id, lock="update")
    task = await _task_of(session, current)
    await session.execute(comments.delete().where(comments.c.id == current.id))
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "comment.deleted", await _payload(session, current, task), actor_id=caller.user_id,
        project_id=task.project_id, entity_type="comment", entity_id=current.id,
        summary=f"{actor} deleted a comment on {quoted(task.title)}")
