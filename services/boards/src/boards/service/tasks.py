"""Tasks: create at the end of a list, filter, edit with optimistic concurrency (version /
If-Match), move between lists of one project, delete; unassignment when a member leaves."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chassis.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from chassis.pagination import PageParams
from contracts.events import (
    TaskAssigned,
    TaskDueDateChanged,
    TaskMoved,
    TaskSnapshot,
    TaskUnassigned,
    TaskUpdated,
)
from sqlalchemy.ext.asyncio import AsyncSession

from boards.events.publish import emit
from boards.models import boards, lists, project_members, tasks
from boards.service.access import VIEWER, Caller, local_role, project_role, require_role
from boards.service.activity import emit_and_record, quoted, user_name, user_names
from boards.service.ordering import new_position
from boards.service.paging import created_key, cursor_key, page

_SNAPSHOT_FIELDS = ("project_id", "board_id", "list_id", "title", "assignee_id", "due_at",
                    "created_by", "version")
_FIELD_NAMES = {"title": "title", "description": "description", "priority": "priority",
                "labels": "labels"}


# --- helpers --------------------------------------------------------------------------------


def snapshot(row: Any) -> dict[str, Any]:
    """The TaskSnapshot fields of a task row."""
    return {"task_id": row.id, **{name: getattr(row, name) for name in _SNAPSHOT_FIELDS}}


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """412 unless ``If-Match`` is absent, ``*``, or lists the current version's ETag."""
    if if_match is None:
        return
    for candidate in if_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return
        tag = tag.removeprefix("W/").strip('"')
        if tag == str(version):
            return
    raise PreconditionFailed(f"The task has changed (its version is now {version}); reload "
                             "it and retry", headers={"ETag": etag(version)})


def _human_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _due(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


async def get_task(session: AsyncSession, task_id: uuid.UUID, *,
                   lock: bool = False) -> sa.Row[Any]:
    query = sa.select(tasks).where(tasks.c.id == task_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("Task not found")
    return row


async def get_list(session: AsyncSession, list_id: uuid.UUID) -> sa.Row[Any]:
    row = (await session.execute(sa.select(lists).where(lists.c.id == list_id))).first()
    if row is None:
        raise NotFound("List not found")
    return row


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


async def check_assignee(session: AsyncSession, caller: Caller, project_id: uuid.UUID,
                         assignee_id: uuid.UUID) -> None:
    """422 unless ``assignee_id`` has a role in the project.

    From the read model, whose row is locked FOR SHARE: a concurrent removal of that member
    waits for this transaction, then unassigns what it assigned. On a miss (a member added a
    moment ago, whose event is still on its way) workspace is asked once (read-through)."""
    if await local_role(session, project_id, assignee_id, lock=True) is not None:
        return
    if assignee_id == caller.user_id and await project_role(session, caller, project_id):
        return
    if await caller.workspace.member_role(project_id, assignee_id, caller.authorization,
                                          caller.request_id) is not None:
        return
    raise Unprocessable("The assignee has no role in this project", loc=["body", "assignee_id"])


async def _wip_check(session: AsyncSession, target: sa.Row[Any]) -> None:
    if target.wip_limit is None:
        return
    # Counting stops at the limit: the cost does not grow with the list.
    held = (await session.execute(sa.select(sa.func.count()).select_from(
        sa.select(tasks.c.id).where(tasks.c.list_id == target.id)
        .limit(target.wip_limit).subquery()))).scalar_one()
    if held >= target.wip_limit:
        raise Conflict(f"List \u201c{target.name}\u201d is at its WIP limit "
                       f"({target.wip_limit})")


async def _assignment_events(session: AsyncSession, caller_id: uuid.UUID | None, row: Any,
                             previous: uuid.UUID | None, actor: str,
                             correlation_id: str | None = None) -> None:
    names = await user_names(session, [row.assignee_id, previous])
    if row.assignee_id is not None:
        assignee = names.get(row.assignee_id, "someone")
        await emit_and_record(
            session, "task.assigned", TaskAssigned(**snapshot(row),
                                                   previous_assignee_id=previous),
            actor_id=caller_id, project_id=row.project_id, entity_type="task",
            entity_id=row.id, summary=f"{actor} assigned {quoted(row.title)} to {assignee}",
            correlation_id=correlation_id)
    elif previous is not None:
        former = names.get(previous, "someone")
        summary = (f"{actor} unassigned {former} from {quoted(row.title)}" if caller_id
                   else f"{former} was unassigned from {quoted(row.title)}")
        await emit_and_record(
            session, "task.unassigned", TaskUnassigned(**snapshot(row),
                                                       previous_assignee_id=previous),
            actor_id=caller_id, project_id=row.project_id, entity_type="task",
            entity_id=row.id, summary=summary, correlation_id=correlation_id)


# --- create / read --------------------------------------------------------------------------


async def create_task(session: AsyncSession, caller: Caller, target: sa.Row[Any], *,
                      title: str, description: str, assignee_id: uuid.UUID | None,
                      due_at: datetime | None, priority: str, labels: list[str]) -> sa.Row[Any]:
    """A new task at the end of ``target`` (409 at the list's WIP limit)."""
    if assignee_id is not None:
        await check_assignee(session, caller, target.project_id, assignee_id)
    target = await lock_list(session, target)
    await _wip_check(session, target)
    position = await new_position(session, tasks, tasks.c.list_id, target.id)
    row = (await session.execute(tasks.insert().values(
        id=uuid.uuid4(), project_id=target.project_id, board_id=target.board_id,
        list_id=target.id, title=title, description=description, assignee_id=assignee_id,
        due_at=due_at, priority=priority, labels=labels, position=position,
        created_by=caller.user_id, version=1,
    ).returning(tasks))).one()
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "task.created", TaskSnapshot(**snapshot(row)), actor_id=caller.user_id,
        project_id=row.project_id, entity_type="task", entity_id=row.id,
        summary=f"{actor} created task {quoted(title)} in {target.name}",
        extra={"list_name": target.name, "priority": priority, "labels": labels})
    if assignee_id is not None:
        # Assigning at creation is an assignment too (the notifier tells the assignee).
        await _assignment_events(session, caller.user_id, row, None, actor)
    return row


async def list_tasks(session: AsyncSession, caller: Caller, *, board_id: uuid.UUID | None,
                     list_id: uuid.UUID | None, assignee_id: uuid.UUID | None,
                     due_before: datetime | None, q: str | None,
                     paging: PageParams) -> tuple[list[Any], str | None]:
    """Tasks matching every filter given. With ``list_id``: list order; otherwise oldest
    first. Without ``board_id``/``list_id``: every project the read model gives the caller."""
    from boards.service.boards import get_board

    conditions: list[Any] = []
    if board_id is not None:
        board = await get_board(session, board_id)
        await require_role(session, caller, board.project_id, VIEWER, what="Board")
        conditions.append(tasks.c.board_id == board_id)
    if list_id is not None:
        target = await get_list(session, list_id)
        await require_role(session, caller, target.project_id, VIEWER, what="List")
        conditions.append(tasks.c.list_id == list_id)
    if board_id is None and list_id is None:
        conditions.append(tasks.c.project_id.in_(
            sa.select(project_members.c.project_id).where(
                project_members.c.user_id == caller.user_id,
                project_members.c.role.is_not(None))))
    if assignee_id is not None:
        conditions.append(tasks.c.assignee_id == assignee_id)
    if due_before is not None:
        conditions.append(tasks.c.due_at < due_before)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(sa.or_(tasks.c.title.ilike(pattern, escape="\\"),
                                 tasks.c.description.ilike(pattern, escape="\\")))
    query = sa.select(tasks).where(*conditions)
    if list_id is not None:
        key = cursor_key(paging, str)
        if key is not None:
            query = query.where(tasks.c.position > key[0])
        query = query.order_by(tasks.c.position)
        rows = (await session.execute(query.limit(paging.limit + 1))).all()
        return page(rows, paging, lambda row: [row.position])
    created = cursor_key(paging, datetime, uuid.UUID)
    if created is not None:
        query = query.where(sa.tuple_(tasks.c.created_at, tasks.c.id) > sa.tuple_(*created))
    rows = (await session.execute(query.order_by(tasks.c.created_at, tasks.c.id)
                                  .limit(paging.limit + 1))).all()
    return page(rows, paging, created_key)


# --- change ---------------------------------------------------------------------------------


async def update_task(session: AsyncSession, caller: Caller, task: sa.Row[Any],
                      changes: dict[str, Any], if_match: str | None) -> sa.Row[Any]:
    """Apply the fields given. Nothing changed: same version, no event. Otherwise the version
    goes up by one and each kind of change emits its event: ``task.assigned`` /
    ``task.unassigned`` for the assignee, ``task.due_date_changed`` for the due date,
    ``task.updated`` for the rest."""
    new_assignee = changes.get("assignee_id")
    if new_assignee is not None:
        # Before the task lock: membership row, then task, like the consumer (no deadlock).
        await check_assignee(session, caller, task.project_id, new_assignee)
    current = await get_task(session, task.id, lock=True)
    check_if_match(if_match, current.version)
    diff = {name: value for name, value in changes.items() if getattr(current, name) != value}
    if not diff:
        return current
    row = (await session.execute(
        tasks.update().where(tasks.c.id == task.id)
        .values(**diff, version=tasks.c.version + 1, updated_at=sa.func.now())
        .returning(tasks))).one()
    actor = await user_name(session, caller.user_id)
    plain = [name for name in _FIELD_NAMES if name in diff]
    if plain:
        summary = f"{actor} changed the {_human_list(plain)} of {quoted(row.title)}"
        if "title" in diff:
            summary += f" (was {quoted(current.title)})"
        previous = {name: getattr(current, name) for name in plain if name != "description"}
        await emit_and_record(
            session, "task.updated", TaskUpdated(**snapshot(row), changed_fields=plain),
            actor_id=caller.user_id, project_id=row.project_id, entity_type="task",
            entity_id=row.id, summary=summary, extra={"previous": previous})
    if "assignee_id" in diff:
        await _assignment_events(session, caller.user_id, row, current.assignee_id, actor)
    if "due_at" in diff:
        summary = (f"{actor} set the due date of {quoted(row.title)} to {_due(row.due_at)}"
                   if row.due_at is not None
                   else f"{actor} removed the due date of {quoted(row.title)}")
        await emit_and_record(
            session, "task.due_date_changed",
            TaskDueDateChanged(**snapshot(row), previous_due_at=current.due_at),
            actor_id=caller.user_id, project_id=row.project_id, entity_type="task",
            entity_id=row.id, summary=summary)
    return row


async def move_task(session: AsyncSession, caller: Caller, task: sa.Row[Any], *,
                    list_id: uuid.UUID, before_id: uuid.UUID | None,
                    after_id: uuid.UUID | None, if_match: str | None) -> sa.Row[Any]:
    """Move to ``list_id`` (same project), before/after a neighbour or to the end. Writes the
    task row only. Locks: the target list (serialises ranks in it), then the task."""
    target = await get_list(session, list_id)
    if target.project_id != task.project_id:
        # Someone else's list is invisible (404); a list of another project of mine is 422.
        if await project_role(session, caller, target.project_id) is None:
            raise NotFound("List not found")
        raise Unprocessable("The target list is on a board of another project",
                            loc=["body", "list_id"])
    target = await lock_list(session, target)
    current = await get_task(session, task.id, lock=True)
    check_if_match(if_match, current.version)
    if current.list_id != target.id:
        await _wip_check(session, target)
    position = await new_position(session, tasks, tasks.c.list_id, target.id,
                                  moving_id=current.id, before_id=before_id, after_id=after_id)
    row = (await session.execute(
        tasks.update().where(tasks.c.id == current.id)
        .values(list_id=target.id, board_id=target.board_id, position=position,
                version=tasks.c.version + 1, updated_at=sa.func.now())
        .returning(tasks))).one()
    actor = await user_name(session, caller.user_id)
    if current.list_id == target.id:
        summary = f"{actor} reordered {quoted(row.title)} in {target.name}"
        source_name = target.name
    else:
        source_name = (await session.execute(sa.select(lists.c.name).where(
            lists.c.id == current.list_id))).scalar_one_or_none() or "a deleted list"
        summary = f"{actor} moved {quoted(row.title)} from {source_name} to {target.name}"
    await emit_and_record(
        session, "task.moved", TaskMoved(**snapshot(row), from_list_id=current.list_id,
                                         position=position),
        actor_id=caller.user_id, project_id=row.project_id, entity_type="task",
        entity_id=row.id, summary=summary,
        extra={"from_list_name": source_name, "to_list_name": target.name})
    return row


async def delete_task(session: AsyncSession, caller: Caller, task: sa.Row[Any],
                      if_match: str | None) -> None:
    current = await get_task(session, task.id, lock=True)
    check_if_match(if_match, current.version)
    await session.execute(tasks.delete().where(tasks.c.id == current.id))
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "task.deleted", TaskSnapshot(**snapshot(current)), actor_id=caller.user_id,
        project_id=current.project_id, entity_type="task", entity_id=current.id,
        summary=f"{actor} deleted task {quoted(current.title)}")


async def announce_cascade_deletion(session: AsyncSession, caller: Caller,
                                    condition: Any) -> int:
    """``task.deleted`` for every task about to go with its list or board (the caller's
    parent row is locked FOR UPDATE, so no task can join meanwhile). The parent's own
    activity entry covers them; returns how many."""
    rows = (await session.execute(sa.select(tasks).where(condition))).all()
    for row in rows:
        await emit(session, "task.deleted", TaskSnapshot(**snapshot(row)),
                   actor_id=caller.user_id)
    return len(rows)


async def unassign_member(session: AsyncSession, project_ids: list[uuid.UUID],
                          user_id: uuid.UUID, *, actor_id: uuid.UUID | None,
                          correlation_id: str | None) -> int:
    """Unassign ``user_id`` from every task of ``project_ids`` (they lost their role there),
    one ``task.unassigned`` each. Called by the consumer after the membership row changed
    (that row lock orders it after any in-flight assignment)."""
    if not project_ids:
        return 0
    rows = (await session.execute(
        tasks.update().where(tasks.c.project_id.in_(project_ids),
                             tasks.c.assignee_id == user_id)
        .values(assignee_id=None, version=tasks.c.version + 1, updated_at=sa.func.now())
        .returning(tasks))).all()
    actor = await user_name(session, actor_id) if actor_id else "Someone"
    for row in rows:
        await _assignment_events(session, actor_id, row, user_id, actor,
                                 correlation_id=correlation_id)
    return len(rows)
