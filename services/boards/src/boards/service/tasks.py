"""Tasks: create at the end of a list, filter, edit with optimistic concurrency (the caller
names the versions it expects), move between lists of one project, delete; unassignment
when a member leaves."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chassis.db import Lock, get_row
from chassis.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from chassis.pagination import PageParams, keyset_page
from contracts.events import (
    TaskAssigned,
    TaskDueDateChanged,
    TaskMoved,
    TaskSnapshot,
    TaskUnassigned,
    TaskUpdated,
)
from sqlalchemy.ext.asyncio import AsyncSession

from boards.models import lists, project_members, tasks
from boards.service.access import Caller, local_role
from boards.service.activity import emit_and_record, quoted, user_name, user_names
from boards.service.lists import lock_list
from boards.service.ordering import new_position
from boards.service.task_events import snapshot

# The fields a ``task.updated`` reports; assignee and due date have events of their own.
_UPDATED_FIELDS = ("title", "description", "priority", "labels")

# Versions the caller expects a task to be at; None: any version.
Expected = Collection[int] | None


class VersionConflict(PreconditionFailed):
    """The task is no longer at a version the caller expects (nothing was changed)."""

    def __init__(self, version: int) -> None:
        super().__init__(f"The task has changed (its version is now {version}); reload it "
                         "and retry")
        self.version = version


def check_version(expected: Expected, version: int) -> None:
    """412 (:class:`VersionConflict`) unless ``version`` is one the caller expects."""
    if expected is not None and version not in expected:
        raise VersionConflict(version)


def _human_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _due(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


async def get_task(session: AsyncSession, task_id: uuid.UUID, *,
                   lock: Lock | None = None) -> sa.Row[Any]:
    return await get_row(session, tasks, task_id, missing=NotFound("Task not found"),
                         lock=lock)


async def check_assignee(session: AsyncSession, caller: Caller, project_id: uuid.UUID,
                         assignee_id: uuid.UUID) -> None:
    """422 unless ``assignee_id`` has a role in the project.

    From the read model, whose row is locked FOR SHARE: a concurrent removal of that member
    waits for this transaction, then unassigns what it assigned. On a miss (a member added a
    moment ago, whose event is still on its way) workspace is asked once (read-through).
    The caller may always assign themself: the API layer let them edit in this project."""
    if await local_role(session, project_id, assignee_id, lock=True) is not None:
        return
    if assignee_id == caller.user_id:
        return
    if await caller.workspace.member_role(project_id, assignee_id,
                                          caller.authorization) is not None:
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
                       f"({target.wip_limit})", code="wip-limit-reached")


async def _assignment_events(session: AsyncSession, caller_id: uuid.UUID | None, row: Any,
                             previous: uuid.UUID | None, actor: str) -> None:
    names = await user_names(session, [row.assignee_id, previous])
    if row.assignee_id is not None:
        assignee = names.get(row.assignee_id, "someone")
        await emit_and_record(
            session, "task.assigned", TaskAssigned(**snapshot(row),
                                                   previous_assignee_id=previous),
            actor_id=caller_id, project_id=row.project_id, entity_type="task",
            entity_id=row.id, summary=f"{actor} assigned {quoted(row.title)} to {assignee}")
    elif previous is not None:
        former = names.get(previous, "someone")
        summary = (f"{actor} unassigned {former} from {quoted(row.title)}" if caller_id
                   else f"{former} was unassigned from {quoted(row.title)}")
        await emit_and_record(
            session, "task.unassigned", TaskUnassigned(**snapshot(row),
                                                       previous_assignee_id=previous),
            actor_id=caller_id, project_id=row.project_id, entity_type="task",
            entity_id=row.id, summary=summary)


# --- create / read --------------------------------------------------------------------------


async def create_task(session: AsyncSession, caller: Caller, target: sa.Row[Any], *,
                      title: str, description: str, assignee_id: uuid.UUID | None,
                      due_at: datetime | None, priority: str, labels: list[str]) -> sa.Row[Any]:
    """A new task at the end of ``target`` (409 at the list's WIP limit)."""
    if assignee_id is not None:
        await check_assignee(session, caller, target.project_id, assignee_id)
    # Before the list lock, which serializes every placement in the list: whatever needs no
    # lock is done first, so the lock is held for as few round trips as possible.
    actor = await user_name(session, caller.user_id)
    target = await lock_list(session, target)
    await _wip_check(session, target)
    position = await new_position(session, tasks, tasks.c.list_id, target.id)
    row: sa.Row[Any] = (await session.execute(tasks.insert().values(
        id=uuid.uuid4(), project_id=target.project_id, board_id=target.board_id,
        list_id=target.id, title=title, description=description, assignee_id=assignee_id,
        due_at=due_at, priority=priority, labels=labels, position=position,
        created_by=caller.user_id, version=1,
    ).returning(tasks))).one()
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
    first. Without ``board_id``/``list_id``: every project the read model gives the caller
    (the API layer has checked that the caller may read the board or list given)."""
    conditions: list[Any] = []
    if board_id is not None:
        conditions.append(tasks.c.board_id == board_id)
    if list_id is not None:
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
        return await keyset_page(session, query, paging, tasks.c.position)
    return await keyset_page(session, query, paging, tasks.c.created_at, tasks.c.id)


# --- change ---------------------------------------------------------------------------------


async def update_task(session: AsyncSession, caller: Caller, task: sa.Row[Any],
                      changes: dict[str, Any], expected: Expected) -> sa.Row[Any]:
    """Apply the fields given. Nothing changed: same version, no event. Otherwise the version
    goes up by one and each kind of change emits its event: ``task.assigned`` /
    ``task.unassigned`` for the assignee, ``task.due_date_changed`` for the due date,
    ``task.updated`` for the rest."""
    new_assignee = changes.get("assignee_id")
    if new_assignee is not None:
        # Before the task lock: membership row, then task, like the consumer (no deadlock).
        await check_assignee(session, caller, task.project_id, new_assignee)
    current = await get_task(session, task.id, lock="update")
    check_version(expected, current.version)
    diff = {name: value for name, value in changes.items() if getattr(current, name) != value}
    if not diff:
        return current
    row: sa.Row[Any] = (await session.execute(
        tasks.update().where(tasks.c.id == task.id)
        .values(**diff, version=tasks.c.version + 1, updated_at=sa.func.now())
        .returning(tasks))).one()
    actor = await user_name(session, caller.user_id)
    plain = [name for name in _UPDATED_FIELDS if name in diff]
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


async def move_task(session: AsyncSession, caller: Caller, task: sa.Row[Any],
                    target: sa.Row[Any], *, before_id: uuid.UUID | None,
                    after_id: uuid.UUID | None, expected: Expected) -> sa.Row[Any]:
    """Move to the list ``target`` (same project), before/after a neighbour or to the end.
    Writes the task row only. Locks: the target list (serialises ranks in it), then the
    task."""
    if target.project_id != task.project_id:
        raise Unprocessable("The target list is on a board of another project",
                            loc=["body", "list_id"])
    actor = await user_name(session, caller.user_id)   # before the list lock (see above)
    target = await lock_list(session, target)
    current = await get_task(session, task.id, lock="update")
    check_version(expected, current.version)
    if current.list_id != target.id:
        await _wip_check(session, target)
    position = await new_position(session, tasks, tasks.c.list_id, target.id,
                                  moving_id=current.id, before_id=before_id, after_id=after_id)
    row: sa.Row[Any] = (await session.execute(
        tasks.update().where(tasks.c.id == current.id)
        .values(list_id=target.id, board_id=target.board_id, position=position,
                version=tasks.c.version + 1, updated_at=sa.func.now())
        .returning(tasks))).one()
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
                      expected: Expected) -> None:
    current = await get_task(session, task.id, lock="update")
    check_version(expected, current.version)
    await session.execute(tasks.delete().where(tasks.c.id == current.id))
    actor = await user_name(session, caller.user_id)
    await emit_and_record(
        session, "task.deleted", TaskSnapshot(**snapshot(current)), actor_id=caller.user_id,
        project_id=current.project_id, entity_type="task", entity_id=current.id,
        summary=f"{actor} deleted task {quoted(current.title)}")


async def unassign_member(session: AsyncSession, project_ids: list[uuid.UUID],
                          user_id: uuid.UUID, *, actor_id: uuid.UUID | None) -> int:
    """Unassign ``user_id`` from every task of ``project_ids`` (they lost their role there),
    one ``task.unassigned`` each. Called by the consumer after the membership row changed
    (that row lock orders it after any in-flight assignment); the events carry the
    correlation id of the event being handled."""
    if not project_ids:
        return 0
    rows = (await session.execute(
        tasks.update().where(tasks.c.project_id.in_(project_ids),
                             tasks.c.assignee_id == user_id)
        .values(assignee_id=None, version=tasks.c.version + 1, updated_at=sa.func.now())
        .returning(tasks))).all()
    actor = await user_name(session, actor_id) if actor_id else "Someone"
    for row in rows:
        await _assignment_events(session, actor_id, row, user_id, actor)
    return len(rows)
