"""Projects and project members: the rules, free of HTTP.

Explicit project roles live in ``project_members``; a team's owner and admins are implicit
admins of every project and are never stored there (adding, changing or removing them as
project members is a 409)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chassis.errors import Conflict, Forbidden, NotFound, Unprocessable
from chassis.logging import get_logger
from chassis.pagination import PageParams, keyset_page
from contracts.events import (
    ProjectCreated,
    ProjectDeleted,
    ProjectMemberAdded,
    ProjectMemberRemoved,
    ProjectMemberRoleChanged,
    ProjectRole,
    ProjectUpdated,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from workspace.db import publisher
from workspace.models import (
    IMPLICIT_ADMIN_ROLES,
    project_members,
    projects,
    team_members,
    user_directory,
)
from workspace.service.access import TEAM_NOT_FOUND, ProjectAccess, TeamAccess, team_role
from workspace.service.directory import user_or_placeholder

log = get_logger(__name__)

PROJECT_MEMBER_NOT_FOUND = "No such member in this project"
IMPLICIT_ADMIN_CONFLICT = ("The team's owner and admins are implicit admins of every project; "
                           "change their team role instead")


@dataclass(frozen=True)
class ProjectView:
    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    my_role: ProjectRole


@dataclass(frozen=True)
class ProjectMemberView:
    user_id: uuid.UUID
    email: str
    full_name: str
    role: ProjectRole
    joined_at: datetime
    implicit: bool


def _view(project: sa.Row[Any], my_role: ProjectRole) -> ProjectView:
    return ProjectView(project.id, project.team_id, project.name, project.description,
                       project.created_at, my_role)


def project_view(access: ProjectAccess) -> ProjectView:
    return _view(access.project, access.role)


# --- projects ---------------------------------------------------------------------------


async def create_project(session: AsyncSession, access: TeamAccess, *, name: str,
                         description: str, actor_id: uuid.UUID) -> ProjectView:
    """Create a project in a team the caller owns or administers (caller: implicit admin)."""
    if not access.manages:
        raise Forbidden("Only the team's owner or an admin can create projects")
    team = access.team
    project = (await session.execute(
        projects.insert().values(id=uuid.uuid4(), team_id=team.id, name=name,
                                 description=description, created_by=actor_id)
        .returning(projects))).one()
    admins = (await session.execute(
        sa.select(team_members.c.user_id)
        .where(team_members.c.team_id == team.id,
               team_members.c.role.in_(IMPLICIT_ADMIN_ROLES))
        .order_by(team_members.c.joined_at, team_members.c.user_id))).scalars().all()
    await publisher.publish(session, "project.created", ProjectCreated(
        project_id=project.id, team_id=team.id, name=project.name,
        description=project.description, created_by=actor_id,
        implicit_admin_ids=list(admins)), actor_id=actor_id)
    log.info("project_created", project_id=str(project.id), team_id=str(team.id))
    return _view(project, "admin")


def _effective_role_column() -> sa.ColumnElement[str]:
    return sa.case((team_members.c.role.in_(IMPLICIT_ADMIN_ROLES), sa.literal("admin")),
                   else_=project_members.c.role)


async def list_projects(session: AsyncSession, user_id: uuid.UUID, team_id: uuid.UUID | None,
                        params: PageParams) -> tuple[list[ProjectView], str | None]:
    """Projects the caller has a role in, optionally of one team (404 if not a member)."""
    if team_id is not None and await team_role(session, team_id, user_id) is None:
        raise NotFound(TEAM_NOT_FOUND)
    role = _effective_role_column().label("my_role")
    query = (
        sa.select(projects, role)
        .join(team_members, sa.and_(team_members.c.team_id == projects.c.team_id,
                                    team_members.c.user_id == user_id))
        .outerjoin(project_members, sa.and_(project_members.c.project_id == projects.c.id,
                                            project_members.c.user_id == user_id))
        .where(sa.or_(team_members.c.role.in_(IMPLICIT_ADMIN_ROLES),
                      project_members.c.role.is_not(None))))
    if team_id is not None:
        query = query.where(projects.c.team_id == team_id)
    items, cursor = await keyset_page(session, query, params, projects.c.created_at,
                                      projects.c.id)
    return [_view(r, r.my_role) for r in items], cursor


async def update_project(session: AsyncSession, access: ProjectAccess, *, name: str | None,
                         description: str | None, actor_id: uuid.UUID) -> ProjectView:
    """Change name and/or description; project.updated only if something changed."""
    project = access.project
    changes = {}
    if name is not None and name != project.name:
        changes["name"] = name
    if description is not None and description != project.description:
        changes["description"] = description
    if not changes:
        return project_view(access)
    updated = (await session.execute(
        projects.update().where(projects.c.id == project.id).values(**changes)
        .returning(projects))).one()
    await publisher.publish(session, "project.updated", ProjectUpdated(
        project_id=updated.id, team_id=updated.team_id, name=updated.name,
        description=updated.description), actor_id=actor_id)
    return _view(updated, access.role)


async def delete_project(session: AsyncSession, access: ProjectAccess, *,
                         actor_id: uuid.UUID) -> None:
    project = access.project
    await session.execute(projects.delete().where(projects.c.id == project.id))
    await publisher.publish(session, "project.deleted", ProjectDeleted(
        project_id=project.id, team_id=project.team_id, name=project.name), actor_id=actor_id)
    log.info("project_deleted", project_id=str(project.id))


# --- project members --------------------------------------------------------------------


def _members_query(access: ProjectAccess) -> sa.Subquery:
    """Everyone with a role in the project: the team's owner and admins (implicit) and the
    explicit members, with their effective role."""
    project = access.project
    implicit = team_members.c.role.in_(IMPLICIT_ADMIN_ROLES)
    joined_at = sa.case(
        (implicit, sa.func.greatest(team_members.c.role_since,
                                    sa.cast(sa.literal(project.created_at),
                                            sa.DateTime(timezone=True)))),
        else_=project_members.c.joined_at)
    return (
        sa.select(team_members.c.user_id,
                  sa.func.coalesce(user_directory.c.email, "").label("email"),
                  sa.func.coalesce(user_directory.c.full_name, "").label("full_name"),
                  _effective_role_column().label("role"),
                  joined_at.label("joined_at"),
                  implicit.label("implicit"))
        .select_from(
            team_members
            .outerjoin(project_members, sa.and_(
                project_members.c.project_id == project.id,
                project_members.c.user_id == team_members.c.user_id))
            .outerjoin(user_directory, user_directory.c.user_id == team_members.c.user_id))
        .where(team_members.c.team_id == project.team_id,
               sa.or_(implicit, project_members.c.user_id.is_not(None)))
    ).subquery("members")


async def list_project_members(session: AsyncSession, access: ProjectAccess,
                               params: PageParams) -> tuple[list[ProjectMemberView], str | None]:
    members = _members_query(access)
    items, cursor = await keyset_page(session, sa.select(members), params,
                                      members.c.joined_at, members.c.user_id)
    return [ProjectMemberView(*tuple(r)) for r in items], cursor


async def get_project_member(session: AsyncSession, access: ProjectAccess,
                             user_id: uuid.UUID) -> ProjectMemberView | None:
    members = _members_query(access)
    row = (await session.execute(sa.select(members).where(members.c.user_id == user_id))).first()
    return ProjectMemberView(*row) if row else None


def _require_admin(access: ProjectAccess) -> None:
    if not access.is_admin:
        raise Forbidden("Only a project admin can manage project members")


async def add_project_member(session: AsyncSession, access: ProjectAccess, user_id: uuid.UUID,
                             *, role: ProjectRole, actor_id: uuid.UUID,
                             field: str = "user_id") -> ProjectMemberView:
    """Give a team member an explicit project role. 422 if not in the team (its ``loc``
    names ``field``, the body field the user was given by), 409 if an implicit admin or
    already a member."""
    _require_admin(access)
    project = access.project
    their_team_role = await team_role(session, project.team_id, user_id)
    if their_team_role is None:
        raise Unprocessable("The user is not a member of the project's team",
                            loc=["body", field])
    if their_team_role in IMPLICIT_ADMIN_ROLES:
        raise Conflict(IMPLICIT_ADMIN_CONFLICT, code="implicit-admin")
    try:
        async with session.begin_nested():
            await session.execute(project_members.insert().values(
                project_id=project.id, user_id=user_id, team_id=project.team_id, role=role))
    except IntegrityError as exc:  # backstops; the team lock makes both unreachable
        if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) == \
                "fk_project_members_team_member":
            raise Unprocessable("The user is not a member of the project's team",
                                loc=["body", field]) from exc
        raise Conflict("This user is already a member of the project",
                       code="already-member") from exc
    user = await user_or_placeholder(session, user_id)
    await publisher.publish(session, "project.member_added", ProjectMemberAdded(
        project_id=project.id, team_id=project.team_id, project_name=project.name,
        user_id=user_id, email=user.email, full_name=user.full_name, role=role,
        implicit=False), actor_id=actor_id)
    member = await get_project_member(session, access, user_id)
    assert member is not None
    return member


async def _explicit_member(session: AsyncSession, access: ProjectAccess,
                           user_id: uuid.UUID) -> ProjectMemberView:
    member = await get_project_member(session, access, user_id)
    if member is None:
        raise NotFound(PROJECT_MEMBER_NOT_FOUND)
    if member.implicit:
        raise Conflict(IMPLICIT_ADMIN_CONFLICT, code="implicit-admin")
    return member


async def change_project_member_role(session: AsyncSession, access: ProjectAccess,
                                     user_id: uuid.UUID, *, role: ProjectRole,
                                     actor_id: uuid.UUID) -> ProjectMemberView:
    _require_admin(access)
    project = access.project
    member = await _explicit_member(session, access, user_id)
    if member.role == role:
        return member
    await session.execute(project_members.update().where(
        project_members.c.project_id == project.id, project_members.c.user_id == user_id)
        .values(role=role))
    await publisher.publish(session, "project.member_role_changed", ProjectMemberRoleChanged(
        project_id=project.id, team_id=project.team_id, project_name=project.name,
        user_id=user_id, email=member.email, full_name=member.full_name,
        old_role=member.role, role=role, implicit=False), actor_id=actor_id)
    changed = await get_project_member(session, access, user_id)
    assert changed is not None
    return changed


async def remove_project_member(session: AsyncSession, access: ProjectAccess,
                                user_id: uuid.UUID, *, actor_id: uuid.UUID) -> None:
    """A project admin removes a member, or a member leaves."""
    if user_id != actor_id:
        _require_admin(access)
    project = access.project
    member = await _explicit_member(session, access, user_id)
    await session.execute(project_members.delete().where(
        project_members.c.project_id == project.id, project_members.c.user_id == user_id))
    await publisher.publish(session, "project.member_removed", ProjectMemberRemoved(
        project_id=project.id, team_id=project.team_id, project_name=project.name,
        user_id=user_id, email=member.email, full_name=member.full_name, role=member.role,
        implicit=False), actor_id=actor_id)
