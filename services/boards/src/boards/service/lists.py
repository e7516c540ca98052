"""Lists of a board: append, list in order, rename / WIP limit, move, delete."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from chassis.errors import NotFound
from chassis.pagination import PageParams, keyset_page
from contracts.events import ListChanged
from sqlalchemy.ext.asyncio import AsyncSession

from boards.models import boards, lists, tasks
from boards.service.access import Caller
from boards.service.activity import emit_and_record, quoted, user_name
from boards.service.boards import get_board
from boards.service.ordering import new_position
from boards.service.task_events import announce_cascade_deletion


async def lock_list(session: AsyncSession, target: Any, *, mode: str = "no_key_update"
                    ) -> sa.Row[Any]:
    """Lock a list row (``no_key_update``: placing tasks in it; ``update``: deleting it),
    after a KEY SHARE lock on its board. Every path takes board before list before task, so
    a board deletion cannot deadlock with a task being placed (whose foreign-key check
    would otherwise take the board after the list). 404 if the list is gone."""
    await session.execute(sa.select(boards.c.id).where(boards.c.id == target.board_id)
                          .with_for_update(read=True, key_share=True))
    query = sa.select(lists).where(lists.c.id == target.id)
    query = query.with_for_update() if mode == "update" else \
        query.with_for_update(key_share=True)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("List not found")
    return row


def _payload(row: Any) -> ListChanged:
    return ListChanged(list_id=row.id, board_id=row.board_id, project_id=row.project_id,
                       name=row.name, position=row.position, wip_limit=row.wip_limit)


async def create_list(session: AsyncSession, caller: Caller, board: sa.Row[Any], *, name: str,
                      wip_limit: int | None) -> sa.Row[Any]:
    """Append a list to the board (the board row is locked while its rank is chosen)."""
    board = await get_board(session, board.id, lock="no_key_update")
    position = await new_position(session, lists, lists.c.board_id, board.id, kind="list",
                                  container_kind="board")
    row: sa.Row[Any] = (await session.execute(lists.insert().values(
        id=uuid.uuid4(), board_id=board.id, project_id=board.project_id, name=name,
        position=position, wip_limit=wip_limit).returning(lists))).one()
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "list.created", _payload(row), actor_id=caller.user_id,
        project_id=row.project_id, entity_type="list", entity_id=row.id,
        summary=f"{actor} added list {quoted(name)} to board {quoted(board.name)}")
    return row


async def list_lists(session: AsyncSession, board_id: uuid.UUID,
                     paging: PageParams) -> tuple[list[Any], str | None]:
    query = sa.select(lists).where(lists.c.board_id == board_id)
    return await keyset_page(session, query, paging, lists.c.position)


async def update_list(session: AsyncSession, caller: Caller, target: sa.Row[Any],
                      changes: dict[str, Any]) -> sa.Row[Any]:
    current = await lock_list(session, target)
    diff = {name: value for name, value in changes.items() if getattr(current, name) != value}
    if not diff:
        return current
    row: sa.Row[Any] = (await session.execute(
        lists.update().where(lists.c.id == current.id)
        .values(**diff, updated_at=sa.func.now()).returning(lists))).one()
    actor = await user_name(session, caller.user_id)
    parts = []
    if "name" in diff:
        parts.append(f"renamed list {quoted(current.name)} to {quoted(row.name)}")
    if "wip_limit" in diff:
        what = quoted(row.name) if "name" not in diff else "it"
        parts.append(f"set the WIP limit of {what} to {row.wip_limit}"
                     if row.wip_limit is not None else f"removed the WIP limit of {what}")
    await emit_and_record(
        session, "list.updated", _payload(row), actor_id=caller.user_id,
        project_id=row.project_id, entity_type="list", entity_id=row.id,
        summary=f"{actor} " + " and ".join(parts),
        extra={"previous": {name: getattr(current, name) for name in diff}})
    return row


async def move_list(session: AsyncSession, caller: Caller, target: sa.Row[Any], *,
                    before_id: uuid.UUID | None, after_id: uuid.UUID | None) -> sa.Row[Any]:
    """Move within its board; writes the list row only (the board row is locked)."""
    await get_board(session, target.board_id, lock="no_key_update")
    current = await lock_list(session, target)
    position = await new_position(session, lists, lists.c.board_id, current.board_id,
                                  moving_id=current.id, before_id=before_id,
                                  after_id=after_id, kind="list", container_kind="board")
    row: sa.Row[Any] = (await session.execute(
        lists.update().where(lists.c.id == current.id)
        .values(position=position, updated_at=sa.func.now()).returning(lists))).one()
    reference_id = before_id or after_id
    reference = (await session.execute(sa.select(lists.c.name).where(
        lists.c.id == reference_id))).scalar_one()
    actor = await user_name(session, caller.user_id)
    where = "before" if before_id else "after"
    await emit_and_record(
        session, "list.moved", _payload(row), actor_id=caller.user_id,
        project_id=row.project_id, entity_type="list", entity_id=row.id,
        summary=f"{actor} moved list {quoted(row.name)} {where} {quoted(reference)}")
    return row


async def delete_list(session: AsyncSession, caller: Caller, target: sa.Row[Any]) -> None:
    """Delete the list and its tasks (each emits ``task.deleted``); one activity entry."""
    current = await lock_list(session, target, mode="update")
    count = await announce_cascade_deletion(session, caller.user_id,
                                            tasks.c.list_id == current.id)
    await session.execute(lists.delete().where(lists.c.id == current.id))
    actor = await user_name(session, caller.user_id)
    suffix = f" and its {count} task{'s' if count != 1 else ''}" if count else ""
    await emit_and_record(
        session, "list.deleted", _payload(current), actor_id=caller.user_id,
        project_id=current.project_id, entity_type="list", entity_id=current.id,
        summary=f"{actor} deleted list {quoted(current.name)}{suffix}",
        extra={"deleted_tasks": count})
