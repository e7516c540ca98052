"""Boards: create, list, read (with lists and tasks), rename, delete."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from chassis.db import Lock, get_row
from chassis.errors import NotFound
from chassis.pagination import PageParams, keyset_page
from contracts.events import BoardChanged
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from boards.models import boards, lists, projects, tasks
from boards.service.access import Caller
from boards.service.activity import emit_and_record, quoted, user_name
from boards.service.task_events import announce_cascade_deletion


def project_lock_key(project_id: uuid.UUID) -> sa.ColumnElement[int]:
    return sa.func.hashtextextended(str(project_id), 0)


async def hold_project(session: AsyncSession, project_id: uuid.UUID) -> None:
    """Shared lock on the project for creating a board in it, then check it was not deleted.

    ``project.deleted`` takes the same lock exclusively, so a board created (after a
    read-through said yes) while the deletion is being applied either commits first and is
    deleted with the project, or waits and sees the tombstone: no orphan boards."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(
        project_lock_key(project_id))))
    deleted = (await session.execute(sa.select(projects.c.deleted_at)
                                     .where(projects.c.id == project_id))).scalar_one_or_none()
    if deleted is not None:
        raise NotFound("Project not found")


async def get_board(session: AsyncSession, board_id: uuid.UUID, *,
                    lock: Lock | None = None) -> sa.Row[Any]:
    return await get_row(session, boards, board_id, missing=NotFound("Board not found"),
                         lock=lock)


async def create_board(session: AsyncSession, caller: Caller, project_id: uuid.UUID,
                       name: str) -> sa.Row[Any]:
    await hold_project(session, project_id)
    row: sa.Row[Any] = (await session.execute(boards.insert().values(
        id=uuid.uuid4(), project_id=project_id, name=name, created_by=caller.user_id
    ).returning(boards))).one()
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "board.created", BoardChanged(board_id=row.id, project_id=project_id,
                                               name=name),
        actor_id=caller.user_id, project_id=project_id, entity_type="board", entity_id=row.id,
        summary=f"{actor} created board {quoted(name)}")
    return row


async def list_boards(session: AsyncSession, project_id: uuid.UUID,
                      paging: PageParams) -> tuple[list[Any], str | None]:
    query = sa.select(boards).where(boards.c.project_id == project_id)
    return await keyset_page(session, query, paging, boards.c.created_at, boards.c.id)


def _rfc3339(column: Any) -> Any:
    """SQL: a timestamptz as RFC 3339 UTC text exactly as the API writes times
    (``Z``; six fraction digits, or none when the fraction is zero)."""
    utc = column.op("AT TIME ZONE")(sa.literal("UTC"))
    return sa.case(
        (column.is_(None), sa.null()),
        (sa.func.date_trunc("second", column) == column,
         sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
        else_=sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))


def _task_json() -> Any:
    """SQL: one task as the JSON object the API gives for a task."""
    t = tasks.c
    return sa.func.json_build_object(
        "id", t.id, "project_id", t.project_id, "board_id", t.board_id, "list_id", t.list_id,
        "title", t.title, "description", t.description, "assignee_id", t.assignee_id,
        "due_at", _rfc3339(t.due_at), "priority", t.priority, "labels", t.labels,
        "position", t.position, "created_by", t.created_by,
        "created_at", _rfc3339(t.created_at), "updated_at", _rfc3339(t.updated_at),
        "version", t.version)


async def lists_json(session: AsyncSession, board_id: uuid.UUID) -> str:
    """The board's lists in order, each with its tasks in order, as a JSON array (text).

    One query: PostgreSQL builds each list's JSON with its tasks (read in list order off the
    (list_id, position) index), so a board of thousands of tasks costs no per-task Python
    work. The objects are those the API gives for lists and tasks (tests compare them)."""
    tasks_of_list = (sa.select(sa.func.coalesce(
        sa.func.json_agg(aggregate_order_by(_task_json(), tasks.c.position)),
        sa.text("'[]'::json")))
        .where(tasks.c.list_id == lists.c.id).scalar_subquery())
    list_json = sa.func.json_build_object(
        "id", lists.c.id, "board_id", lists.c.board_id, "name", lists.c.name,
        "position", lists.c.position, "wip_limit", lists.c.wip_limit, "tasks", tasks_of_list)
    rows = (await session.execute(
        sa.select(sa.cast(list_json, sa.Text)).where(lists.c.board_id == board_id)
        .order_by(lists.c.position))).scalars().all()
    return "[" + ",".join(rows) + "]"


async def rename_board(session: AsyncSession, caller: Caller, board: sa.Row[Any],
                       name: str) -> sa.Row[Any]:
    current = await get_board(session, board.id, lock="no_key_update")
    if current.name == name:
        return current
    row: sa.Row[Any] = (await session.execute(
        boards.update().where(boards.c.id == board.id)
        .values(name=name, updated_at=sa.func.now()).returning(boards))).one()
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "board.updated", BoardChanged(board_id=row.id, project_id=row.project_id,
                                               name=name),
        actor_id=caller.user_id, project_id=row.project_id, entity_type="board",
        entity_id=row.id, summary=f"{actor} renamed board {quoted(current.name)} to "
                                  f"{quoted(name)}",
        extra={"previous_name": current.name})
    return row


async def delete_board(session: AsyncSession, caller: Caller, board: sa.Row[Any]) -> None:
    """Delete the board, its lists and tasks; each task emits ``task.deleted`` (so reminders
    and other read models drop it) and the board one activity entry."""
    current = await get_board(session, board.id, lock="update")
    task_count = await announce_cascade_deletion(session, caller.user_id,
                                                 tasks.c.board_id == board.id)
    await session.execute(boards.delete().where(boards.c.id == board.id))
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "board.deleted", BoardChanged(board_id=current.id,
                                               project_id=current.project_id,
                                               name=current.name),
        actor_id=caller.user_id, project_id=current.project_id, entity_type="board",
        entity_id=current.id, summary=f"{actor} deleted board {quoted(current.name)}",
        extra={"deleted_tasks": task_count})
