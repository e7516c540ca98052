"""FastAPI dependencies: load the team or project named in the path, authorize the caller,
and raise the right 404/403 once, so routers stay thin.

Writers get the team's row locked for the rest of the request's transaction (see
``workspace.service.access``). A malformed id in a path is a 404, like an unknown one."""

from __future__ import annotations

import uuid
from typing import Annotated

from chassis.auth import CurrentUserId
from chassis.errors import Forbidden
from chassis.http import DbSession
from chassis.validation import path_id
from fastapi import Depends, Path, Request

from workspace.service.access import (
    PROJECT_NOT_FOUND,
    TEAM_NOT_FOUND,
    ProjectAccess,
    TeamAccess,
    project_access,
    team_access,
)
from workspace.service.identity_client import IdentityClient

__all__ = ["AdministeredProject", "Authorization", "CurrentUserId", "DbSession", "Identity",
           "LockedProject", "LockedTeam", "ManagedTeam", "OwnedTeam", "TargetUserId",
           "VisibleProject", "VisibleTeam"]


TeamIdPath = Annotated[str, Path(alias="id", description="Team id (UUID)")]
ProjectIdPath = Annotated[str, Path(alias="id", description="Project id (UUID)")]


def _target_user_id(user_id: Annotated[str, Path(description="User id (UUID)")]) -> uuid.UUID:
    return path_id(user_id, "No such member")


TargetUserId = Annotated[uuid.UUID, Depends(_target_user_id)]


# --- teams ------------------------------------------------------------------------------


async def _visible_team(caller: CurrentUserId, session: DbSession,
                        team_id: TeamIdPath) -> TeamAccess:
    return await team_access(session, path_id(team_id, TEAM_NOT_FOUND), caller,
                             lock=False)


async def _locked_team(caller: CurrentUserId, session: DbSession,
                       team_id: TeamIdPath) -> TeamAccess:
    return await team_access(session, path_id(team_id, TEAM_NOT_FOUND), caller, lock=True)


async def _managed_team(access: Annotated[TeamAccess, Depends(_locked_team)]) -> TeamAccess:
    if not access.manages:
        raise Forbidden("Only the team's owner or an admin can do this")
    return access


async def _owned_team(access: Annotated[TeamAccess, Depends(_locked_team)]) -> TeamAccess:
    if access.role != "owner":
        raise Forbidden("Only the team's owner can do this")
    return access


VisibleTeam = Annotated[TeamAccess, Depends(_visible_team)]
LockedTeam = Annotated[TeamAccess, Depends(_locked_team)]
ManagedTeam = Annotated[TeamAccess, Depends(_managed_team)]
OwnedTeam = Annotated[TeamAccess, Depends(_owned_team)]


# --- projects ---------------------------------------------------------------------------


async def _visible_project(caller: CurrentUserId, session: DbSession,
                           project_id: ProjectIdPath) -> ProjectAccess:
    return await project_access(session, path_id(project_id, PROJECT_NOT_FOUND), caller,
                                lock=False)


async def _locked_project(caller: CurrentUserId, session: DbSession,
                          project_id: ProjectIdPath) -> ProjectAccess:
    return await project_access(session, path_id(project_id, PROJECT_NOT_FOUND), caller,
                                lock=True)


async def _administered_project(
        access: Annotated[ProjectAccess, Depends(_locked_project)]) -> ProjectAccess:
    if not access.is_admin:
        raise Forbidden("Only a project admin can do this")
    return access


VisibleProject = Annotated[ProjectAccess, Depends(_visible_project)]
LockedProject = Annotated[ProjectAccess, Depends(_locked_project)]
AdministeredProject = Annotated[ProjectAccess, Depends(_administered_project)]


# --- plumbing ---------------------------------------------------------------------------


def _authorization(request: Request) -> str | None:
    """The caller's Authorization header, forwarded on read-through calls to identity."""
    return request.headers.get("authorization")


def _identity(request: Request) -> IdentityClient:
    identity: IdentityClient = request.app.state.identity
    return identity


Authorization = Annotated[str | None, Depends(_authorization)]
Identity = Annotated[IdentityClient, Depends(_identity)]
