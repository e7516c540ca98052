"""Who may see and change what: the caller's team role and effective project role.

Writers lock the team's row (``SELECT ... FOR UPDATE``) before reading any membership, so
every change to a team, its members, its projects or their members is serialised per team:
two concurrent requests end in one consistent state (never two owners, never a member added
twice)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from chassis.errors import NotFound
from contracts.events import ProjectRole, TeamRole
from sqlalchemy.ext.asyncio import AsyncSession

from workspace.models import IMPLICIT_ADMIN_ROLES, project_members, projects, team_members, teams

TEAM_NOT_FOUND = "Team not found"
PROJECT_NOT_FOUND = "Project not found"


@dataclass(frozen=True)
class TeamAccess:
    """A team and the caller's role in it."""

    team: sa.Row[Any]
    role: TeamRole

    @property
    def team_id(self) -> uuid.UUID:
        team_id: uuid.UUID = self.team.id
        return team_id

    @property
    def manages(self) -> bool:
        return self.role in IMPLICIT_ADMIN_ROLES


@dataclass(frozen=True)
class ProjectAccess:
    """A project, its team, and the caller's roles (team role, explicit project role)."""

    project: sa.Row[Any]
    team: sa.Row[Any]
    team_role: TeamRole
    explicit_role: ProjectRole | None

    @property
    def role(self) -> ProjectRole:
        """The effective project role (team owner and admins are implicit admins)."""
        role = effective_role(self.team_role, self.explicit_role)
        assert role is not None  # project_access() hands out only visible projects
        return role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def effective_role(team_role: TeamRole | None,
                   explicit_role: ProjectRole | None) -> ProjectRole | None:
    if team_role is None:
        return None
    if team_role in IMPLICIT_ADMIN_ROLES:
        return "admin"
    return explicit_role


async def lock_team(session: AsyncSession, team_id: uuid.UUID) -> sa.Row[Any] | None:
    return (await session.execute(
        sa.select(teams).where(teams.c.id == team_id).with_for_update())).first()


async def team_role(session: AsyncSession, team_id: uuid.UUID,
                    user_id: uuid.UUID) -> TeamRole | None:
    return (await session.execute(
        sa.select(team_members.c.role).where(team_members.c.team_id == team_id,
                                             team_members.c.user_id == user_id))).scalar()


async def explicit_role(session: AsyncSession, project_id: uuid.UUID,
                        user_id: uuid.UUID) -> ProjectRole | None:
    return (await session.execute(
        sa.select(project_members.c.role).where(project_members.c.project_id == project_id,
                                                project_members.c.user_id == user_id))).scalar()


async def team_access(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID, *,
                      lock: bool) -> TeamAccess:
    """The team as the caller sees it; 404 unless the caller is a member."""
    if lock:
        team = await lock_team(session, team_id)
    else:
        team = (await session.execute(sa.select(teams).where(teams.c.id == team_id))).first()
    role = await team_role(session, team_id, user_id) if team is not None else None
    if team is None or role is None:
        raise NotFound(TEAM_NOT_FOUND)
    return TeamAccess(team=team, role=role)


async def project_access(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID, *,
                         lock: bool) -> ProjectAccess:
    """The project as the caller sees it; 404 unless the caller has a project role
    (a plain team member without one does not see the project)."""
    select_project = sa.select(projects).where(projects.c.id == project_id)
    project = (await session.execute(select_project)).first()
    if project is None:
        raise NotFound(PROJECT_NOT_FOUND)
    if lock:
        team = await lock_team(session, project.team_id)
        # Re-read under the lock: the project may have gone meanwhile.
        project = (await session.execute(select_project)).first()
    else:
        team = (await session.execute(
            sa.select(teams).where(teams.c.id == project.team_id))).first()
    if team is None or project is None:
        raise NotFound(PROJECT_NOT_FOUND)
    role_in_team = await team_role(session, team.id, user_id)
    explicit = await explicit_role(session, project_id, user_id) if role_in_team else None
    if effective_role(role_in_team, explicit) is None:
        raise NotFound(PROJECT_NOT_FOUND)
    assert role_in_team is not None
    return ProjectAccess(project=project, team=team, team_role=role_in_team,
                         explicit_role=explicit)
