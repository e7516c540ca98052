"""Teams and team members: the rules, free of HTTP.

Callers pass a :class:`TeamAccess` obtained with the team's row locked (see
``workspace.deps``), so the checks here and the writes that follow cannot interleave with
another change to the same team."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chassis.errors import Conflict, Forbidden, NotFound
from chassis.logging import get_logger
from chassis.pagination import PageParams, keyset_page
from contracts.events import (
    ProjectDeleted,
    TeamCreated,
    TeamDeleted,
    TeamMemberAdded,
    TeamMemberRemoved,
    TeamMemberRoleChanged,
    TeamRole,
    TeamUpdated,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from workspace.db import publisher
from workspace.models import (
    IMPLICIT_ADMIN_ROLES,
    project_members,
    projects,
    team_members,
    teams,
    user_directory,
)
from workspace.service import project_roles
from workspace.service.access import TeamAccess
from workspace.service.directory import DirectoryUser

log = get_logger(__name__)

MEMBER_NOT_FOUND = "No such member in this team"


@dataclass(frozen=True)
class TeamView:
    id: uuid.UUID
    name: str
    created_at: datetime
    my_role: TeamRole


@dataclass(frozen=True)
class MemberView:
    user_id: uuid.UUID
    email: str
    full_name: str
    role: TeamRole
    joined_at: datetime


# --- teams ------------------------------------------------------------------------------


async def create_team(session: AsyncSession, *, owner: DirectoryUser, name: str) -> TeamView:
    team = (await session.execute(
        teams.insert().values(id=uuid.uuid4(), name=name).returning(teams))).one()
    await session.execute(team_members.insert().values(team_id=team.id, user_id=owner.user_id,
                                                       role="owner"))
    # team.created names the owner: it also stands for the owner's membership.
    await publisher.publish(session, "team.created",
                            TeamCreated(team_id=team.id, name=team.name, owner_id=owner.user_id),
                            actor_id=owner.user_id)
    log.info("team_created", team_id=str(team.id))
    return TeamView(team.id, team.name, team.created_at, "owner")


async def list_teams(session: AsyncSession, user_id: uuid.UUID,
                     params: PageParams) -> tuple[list[TeamView], str | None]:
    query = (sa.select(teams, team_members.c.role)
             .join(team_members, team_members.c.team_id == teams.c.id)
             .where(team_members.c.user_id == user_id))
    items, cursor = await keyset_page(session, query, params, teams.c.created_at, teams.c.id)
    return [TeamView(r.id, r.name, r.created_at, r.role) for r in items], cursor


def team_view(access: TeamAccess) -> TeamView:
    team = access.team
    return TeamView(team.id, team.name, team.created_at, access.role)


async def rename_team(session: AsyncSession, access: TeamAccess, *, name: str,
                      actor_id: uuid.UUID) -> TeamView:
    team = (await session.execute(
        teams.update().where(teams.c.id == access.team_id).values(name=name)
        .returning(teams))).one()
    if team.name != access.team.name:
        # Consumers keep team names (e.g. in notifications): tell them.
        await publisher.publish(session, "team.updated",
                                TeamUpdated(team_id=team.id, name=team.name), actor_id=actor_id)
    return TeamView(team.id, team.name, team.created_at, access.role)


async def delete_team(session: AsyncSession, access: TeamAccess, *,
                      actor_id: uuid.UUID) -> None:
    """Delete the team and its projects: project.deleted for each, then team.deleted."""
    team = access.team
    doomed = (await session.execute(
        sa.select(projects.c.id, projects.c.name).where(projects.c.team_id == team.id)
        .order_by(projects.c.created_at, projects.c.id))).all()
    for project in doomed:
        await publisher.publish(
            session, "project.deleted",
            ProjectDeleted(project_id=project.id, team_id=team.id, name=project.name),
            actor_id=actor_id)
    # Cascades: projects, project members, team members.
    await session.execute(teams.delete().where(teams.c.id == team.id))
    await publisher.publish(session, "team.deleted", TeamDeleted(team_id=team.id, name=team.name),
                            actor_id=actor_id)
    log.info("team_deleted", team_id=str(team.id), projects=len(doomed))


# --- members ----------------------------------------------------------------------------


def _member_columns() -> list[sa.ColumnElement[Any]]:
    return [team_members.c.user_id,
            sa.func.coalesce(user_directory.c.email, "").label("email"),
            sa.func.coalesce(user_directory.c.full_name, "").label("full_name"),
            team_members.c.role, team_members.c.joined_at]


def _members_from() -> sa.FromClause:
    return team_members.outerjoin(user_directory,
                                  user_directory.c.user_id == team_members.c.user_id)


async def list_members(session: AsyncSession, team_id: uuid.UUID,
                       params: PageParams) -> tuple[list[MemberView], str | None]:
    query = (sa.select(*_member_columns()).select_from(_members_from())
             .where(team_members.c.team_id == team_id))
    items, cursor = await keyset_page(session, query, params, team_members.c.joined_at,
                                      team_members.c.user_id)
    return [MemberView(*tuple(r)) for r in items], cursor


async def get_member(session: AsyncSession, team_id: uuid.UUID,
                     user_id: uuid.UUID) -> MemberView | None:
    row = (await session.execute(
        sa.select(*_member_columns()).select_from(_members_from())
        .where(team_members.c.team_id == team_id, team_members.c.user_id == user_id))).first()
    return MemberView(*row) if row else None


async def add_member(session: AsyncSession, access: TeamAccess, user: DirectoryUser, *,
                     role: TeamRole, actor_id: uuid.UUID) -> MemberView:
    """Add ``user`` with ``role`` (admin or member); 409 if already a member. An admin
    becomes an implicit admin of every project of the team (project.member_added)."""
    team = access.team
    if await get_member(session, team.id, user.user_id) is not None:
        raise Conflict("This user is already a member of the team", code="already-member")
    try:
        async with session.begin_nested():
            await session.execute(team_members.insert().values(
                team_id=team.id, user_id=user.user_id, role=role))
    except IntegrityError as exc:  # backstop; the team lock makes this unreachable
        raise Conflict("This user is already a member of the team", code="already-member") from exc
    await publisher.publish(session, "team.member_added", TeamMemberAdded(
        team_id=team.id, team_name=team.name, user_id=user.user_id, email=user.email,
        full_name=user.full_name, role=role), actor_id=actor_id)
    await project_roles.team_role_changed(session, team_id=team.id, user=user,
                                          old_team_role=None, new_team_role=role,
                                          actor_id=actor_id)
    member = await get_member(session, team.id, user.user_id)
    assert member is not None
    return member


async def _set_role(session: AsyncSession, access: TeamAccess, member: MemberView,
                    role: TeamRole,
                    *, actor_id: uuid.UUID) -> None:
    team = access.team
    values: dict[str, object] = {"role": role}
    if (member.role in IMPLICIT_ADMIN_ROLES) != (role in IMPLICIT_ADMIN_ROLES):
        # Became or stopped being an implicit project admin (owner <-> admin is neither).
        values["role_since"] = sa.func.now()
    await session.execute(
        team_members.update()
        .where(team_members.c.team_id == team.id, team_members.c.user_id == member.user_id)
        .values(**values))
    user = DirectoryUser(member.user_id, member.email, member.full_name)
    await publisher.publish(session, "team.member_role_changed", TeamMemberRoleChanged(
        team_id=team.id, team_name=team.name, user_id=member.user_id, email=member.email,
        full_name=member.full_name, old_role=member.role, role=role), actor_id=actor_id)
    await project_roles.team_role_changed(session, team_id=team.id, user=user,
                                          old_team_role=member.role, new_team_role=role,
                                          actor_id=actor_id)


async def change_member_role(session: AsyncSession, access: TeamAccess, user_id: uuid.UUID, *,
                             role: TeamRole, actor_id: uuid.UUID) -> MemberView:
    """Owner or admin changes a member's role. ``owner`` transfers ownership (owner only);
    the old owner becomes admin. The owner's own role changes only by a transfer (409)."""
    team = access.team
    member = await get_member(session, team.id, user_id)
    if member is None:
        raise NotFound(MEMBER_NOT_FOUND)
    if role == "owner" and access.role != "owner":
        raise Forbidden("Only the owner can transfer ownership")
    if member.role == role:
        return member
    if member.role == "owner":
        raise Conflict("The owner's role changes only by transferring ownership to another "
                       "member", code="owner-cannot-leave")
    if role == "owner":
        previous = await get_member(session, team.id, actor_id)
        assert previous is not None and previous.role == "owner"
        # Old owner first: the one-owner index holds at every statement.
        await _set_role(session, access, previous, "admin", actor_id=actor_id)
        log.info("team_ownership_transferred", team_id=str(team.id), to=str(user_id))
    await _set_role(session, access, member, role, actor_id=actor_id)
    changed = await get_member(session, team.id, user_id)
    assert changed is not None
    return changed


async def remove_member(session: AsyncSession, access: TeamAccess, user_id: uuid.UUID, *,
                        actor_id: uuid.UUID) -> None:
    """Owner or admin removes a member, or a member leaves. The owner cannot be removed
    (409). The user loses every project role in the team (project.member_removed each)."""
    team = access.team
    if user_id != actor_id and not access.manages:
        raise Forbidden("Only the team's owner or an admin can remove other members")
    member = await get_member(session, team.id, user_id)
    if member is None:
        raise NotFound(MEMBER_NOT_FOUND)
    if member.role == "owner":
        raise Conflict("The owner cannot leave or be removed; transfer ownership first",
                       code="owner-cannot-leave")
    user = DirectoryUser(member.user_id, member.email, member.full_name)
    await project_roles.team_role_changed(session, team_id=team.id, user=user,
                                          old_team_role=member.role, new_team_role=None,
                                          actor_id=actor_id)
    await session.execute(project_members.delete().where(
        project_members.c.team_id == team.id, project_members.c.user_id == user_id))
    await session.execute(team_members.delete().where(
        team_members.c.team_id == team.id, team_members.c.user_id == user_id))
    await publisher.publish(session, "team.member_removed", TeamMemberRemoved(
        team_id=team.id, team_name=team.name, user_id=user_id, email=member.email,
        full_name=member.full_name, role=member.role), actor_id=actor_id)


__all__ = ["MemberView", "TeamView", "add_member", "change_member_role", "create_team",
           "delete_team", "get_member", "list_members", "list_teams", "remove_member",
           "rename_team", "team_view"]
