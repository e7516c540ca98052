"""The local read models fed by other services' events: the user directory (identity) and
projects with their members' *effective* roles (workspace).

Handlers are idempotent and tolerate reordering (a reclaimed message may arrive late): every
row remembers the ``occurred_at`` of the newest event applied to it (``changed_at``) and only a
newer event overwrites it (:mod:`chassis.read_model`). A removed member keeps a row with
``role = NULL`` (a tombstone) so a late "added" cannot revive them; a deleted project keeps a
tombstone row for the same reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from chassis.logging import get_logger
from chassis.read_model import UserDirectory, is_newer, upsert_if_newer
from contracts.events import (
    Envelope,
    ProjectCreated,
    ProjectDeleted,
    ProjectMemberAdded,
    ProjectMemberRemoved,
    ProjectMemberRoleChanged,
    ProjectUpdated,
    TeamDeleted,
    TeamMemberRemoved,
)
from sqlalchemy.ext.asyncio import AsyncSession

from boards.models import activity, boards, project_members, projects, users
from boards.service.activity import record, user_name
from boards.service.boards import project_lock_key
from boards.service.tasks import unassign_member

log = get_logger(__name__)


# --- users ----------------------------------------------------------------------------------

# Names people in activity summaries; ``user.registered`` / ``user.updated`` feed it with
# ``directory.on_user_event``, membership events with the member's address and name.
directory = UserDirectory(users, id_column="id", stamp="changed_at")


# --- projects -------------------------------------------------------------------------------


async def _is_deleted(session: AsyncSession, project_id: uuid.UUID) -> bool:
    return (await session.execute(sa.select(projects.c.deleted_at).where(
        projects.c.id == project_id))).scalar_one_or_none() is not None


async def _set_role(session: AsyncSession, project_id: uuid.UUID, team_id: uuid.UUID,
                    user_id: uuid.UUID, role: str | None, implicit: bool,
                    at: datetime) -> bool:
    """Upsert one membership if this event is newer than the stored one; True if applied.
    The row update takes the row lock that orders this after an in-flight assignment."""
    return await upsert_if_newer(
        session, project_members,
        {"project_id": project_id, "user_id": user_id, "team_id": team_id, "role": role,
         "implicit": implicit, "changed_at": at},
        key=["project_id", "user_id"], stamp="changed_at")


async def on_project_created(session: AsyncSession, envelope: Envelope) -> None:
    payload = envelope.payload()
    assert isinstance(payload, ProjectCreated)
    at = envelope.occurred_at
    await upsert_if_newer(session, projects, {"id": payload.project_id,
                                              "team_id": payload.team_id,
                                              "name": payload.name, "changed_at": at},
                          key=["id"], stamp="changed_at",
                          tombstone=projects.c.deleted_at.is_not(None))
    if await _is_deleted(session, payload.project_id):
        return
    implicit = set(payload.implicit_admin_ids)
    for user_id in sorted({payload.created_by, *implicit}):
        await _set_role(session, payload.project_id, payload.team_id, user_id, "admin",
                        user_id in implicit and user_id != payload.created_by, at)


async def on_project_updated(session: AsyncSession, envelope: Envelope) -> None:
    payload = envelope.payload()
    assert isinstance(payload, ProjectUpdated)
    await session.execute(projects.update().where(
        projects.c.id == payload.project_id,
        is_newer(projects.c.changed_at, envelope.occurred_at), projects.c.deleted_at.is_(None),
    ).values(name=payload.name, changed_at=envelope.occurred_at))


async def delete_project_data(session: AsyncSession, project_id: uuid.UUID,
                              team_id: uuid.UUID, name: str, at: datetime) -> None:
    """Tombstone the project and delete everything of it here: boards (and with them lists,
    tasks, comments), activity, memberships. Holds the project lock exclusively, so a board
    being created in it (after a read-through) cannot survive as an orphan."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(
        project_lock_key(project_id))))
    await upsert_if_newer(session, projects, {"id": project_id, "team_id": team_id,
                                              "name": name, "changed_at": at, "deleted_at": at},
                          key=["id"], stamp="changed_at", deletion=True,
                          update={"deleted_at": sa.func.coalesce(projects.c.deleted_at, at)})
    deleted = await session.execute(boards.delete().where(boards.c.project_id == project_id)
                                    .returning(boards.c.id))
    await session.execute(activity.delete().where(activity.c.project_id == project_id))
    await session.execute(project_members.delete().where(
        project_members.c.project_id == project_id))
    log.info("project_data_deleted", project_id=str(project_id),
             boards=len(deleted.all()))


async def on_project_deleted(session: AsyncSession, envelope: Envelope) -> None:
    payload = envelope.payload()
    assert isinstance(payload, ProjectDeleted)
    await delete_project_data(session, payload.project_id, payload.team_id, payload.name,
                              envelope.occurred_at)


async def on_team_deleted(session: AsyncSession, envelope: Envelope) -> None:
    """Workspace deletes (and announces) each project first; this catches any left."""
    payload = envelope.payload()
    assert isinstance(payload, TeamDeleted)
    project_ids = (await session.execute(
        sa.select(projects.c.id).where(projects.c.team_id == payload.team_id,
                                       projects.c.deleted_at.is_(None))
        .union(sa.select(project_members.c.project_id)
               .where(project_members.c.team_id == payload.team_id)))).scalars().all()
    for project_id in sorted(set(project_ids)):
        await delete_project_data(session, project_id, payload.team_id, "", envelope.occurred_at)


# --- memberships ----------------------------------------------------------------------------


async def on_member_added_or_changed(session: AsyncSession, envelope: Envelope) -> None:
    payload = envelope.payload()
    assert isinstance(payload, ProjectMemberAdded | ProjectMemberRoleChanged)
    at = envelope.occurred_at
    await directory.upsert(session, payload.user_id, email=payload.email,
                           full_name=payload.full_name, as_of=at)
    if await _is_deleted(session, payload.project_id):
        return
    await _set_role(session, payload.project_id, payload.team_id, payload.user_id,
                    payload.role, payload.implicit, at)
    actor = await user_name(session, envelope.actor_id)
    member = payload.full_name
    if isinstance(payload, ProjectMemberAdded):
        if payload.implicit:
            summary = f"{member} became a project admin as a team owner or admin"
        elif envelope.actor_id == payload.user_id:
            summary = f"{member} joined the project as {payload.role}"
        else:
            summary = f"{actor} added {member} to the project as {payload.role}"
    else:
        summary = (f"{member}'s role changed from {payload.old_role} to {payload.role} with "
                   "their team role" if payload.implicit else
                   f"{actor} changed {member}'s role from {payload.old_role} to "
                   f"{payload.role}")
    await record(session, envelope, project_id=payload.project_id,
                 entity_type="project_member", entity_id=payload.user_id, summary=summary)


async def on_member_removed(session: AsyncSession, envelope: Envelope) -> None:
    """The member loses their role here, and their tasks in the project are unassigned
    (``task.unassigned`` each, actor = whoever removed them)."""
    payload = envelope.payload()
    assert isinstance(payload, ProjectMemberRemoved)
    at = envelope.occurred_at
    await directory.upsert(session, payload.user_id, email=payload.email,
                           full_name=payload.full_name, as_of=at)
    if await _is_deleted(session, payload.project_id):
        return
    applied = await _set_role(session, payload.project_id, payload.team_id, payload.user_id,
                              None, payload.implicit, at)
    actor = await user_name(session, envelope.actor_id)
    member = payload.full_name
    if envelope.actor_id == payload.user_id:
        summary = f"{member} left the project"
    elif payload.implicit or envelope.actor_id is None:
        summary = f"{member} is no longer a member of the project"
    else:
        summary = f"{actor} removed {member} from the project"
    await record(session, envelope, project_id=payload.project_id,
                 entity_type="project_member", entity_id=payload.user_id, summary=summary)
    if applied:
        await unassign_member(session, [payload.project_id], payload.user_id,
                              actor_id=envelope.actor_id)


async def on_team_member_removed(session: AsyncSession, envelope: Envelope) -> None:
    """Leaving a team ends every project role in it (workspace also announces each
    project.member_removed; whichever comes first does the work)."""
    payload = envelope.payload()
    assert isinstance(payload, TeamMemberRemoved)
    at = envelope.occurred_at
    changed = await session.execute(
        project_members.update().where(project_members.c.user_id == payload.user_id,
                                       project_members.c.team_id == payload.team_id,
                                       project_members.c.role.is_not(None),
                                       is_newer(project_members.c.changed_at, at))
        .values(role=None, changed_at=at).returning(project_members.c.project_id))
    project_ids = sorted(changed.scalars().all())
    await unassign_member(session, project_ids, payload.user_id, actor_id=envelope.actor_id)
