"""/api/v1/projects: projects and their members."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from chassis.pagination import Page, Paging
from fastapi import APIRouter, Query, Response, status

from workspace.api.responses import problems
from workspace.deps import (
    AdministeredProject,
    CurrentUserId,
    DbSession,
    LockedProject,
    TargetUserId,
    VisibleProject,
)
from workspace.schemas import (
    Project,
    ProjectCreate,
    ProjectMember,
    ProjectMemberCreate,
    ProjectMemberUpdate,
    ProjectUpdate,
)
from workspace.service import projects
from workspace.service.access import team_access

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])

NOT_VISIBLE = "Project not found, or the caller has no role in it"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Project,
             responses=problems(r403="Not the team's owner or an admin",
                                r404="Team not found, or the caller is not a member",
                                r422="Invalid body"))
async def create_project(body: ProjectCreate, caller: CurrentUserId,
                         session: DbSession) -> Project:
    """Create a project in a team the caller owns or administers; the caller is its admin
    (implicitly, through the team role)."""
    access = await team_access(session, body.team_id, caller, lock=True)
    project = await projects.create_project(session, access, name=body.name,
                                            description=body.description, actor_id=caller)
    return Project(**asdict(project))


@router.get("", response_model=Page[Project],
            responses=problems(r404="team_id names a team the caller is not a member of",
                               r422="Invalid team_id, limit or cursor"))
async def list_projects(caller: CurrentUserId, session: DbSession, paging: Paging,
                        team_id: Annotated[uuid.UUID | None, Query(
                            description="Only projects of this team")] = None) -> Page[Project]:
    """The projects the caller has a role in (explicit or implicit), oldest first."""
    items, cursor = await projects.list_projects(session, caller, team_id, paging)
    return Page[Project](items=[Project(**asdict(p)) for p in items], next_cursor=cursor)


@router.get("/{id}", response_model=Project, responses=problems(r404=NOT_VISIBLE))
async def get_project(access: VisibleProject) -> Project:
    return Project(**asdict(projects.project_view(access)))


@router.patch("/{id}", response_model=Project,
              responses=problems(r403="Not a project admin", r404=NOT_VISIBLE,
                                 r422="Invalid body"))
async def update_project(access: AdministeredProject, body: ProjectUpdate, caller: CurrentUserId,
                         session: DbSession) -> Project:
    project = await projects.update_project(session, access, name=body.name,
                                            description=body.description, actor_id=caller)
    return Project(**asdict(project))


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=problems(r403="Not a project admin", r404=NOT_VISIBLE))
async def delete_project(access: AdministeredProject, caller: CurrentUserId,
                         session: DbSession) -> Response:
    """Delete the project (boards deletes its boards on project.deleted)."""
    await projects.delete_project(session, access, actor_id=caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{id}/members", response_model=Page[ProjectMember],
            responses=problems(r404=NOT_VISIBLE, r422="Invalid limit or cursor"))
async def list_project_members(access: VisibleProject, session: DbSession,
                               paging: Paging) -> Page[ProjectMember]:
    """Everyone with a role in the project; the team's owner and admins are listed as
    ``implicit: true`` admins."""
    items, cursor = await projects.list_project_members(session, access, paging)
    return Page[ProjectMember](items=[ProjectMember(**asdict(m)) for m in items],
                               next_cursor=cursor)


@router.post("/{id}/members", status_code=status.HTTP_201_CREATED, response_model=ProjectMember,
             responses=problems(r403="Not a project admin", r404=NOT_VISIBLE,
                                r409="Already a member, or an implicit admin",
                                r422="Invalid body, or the user is not in the team"))
async def add_project_member(access: AdministeredProject, body: ProjectMemberCreate,
                             caller: CurrentUserId, session: DbSession) -> ProjectMember:
    member = await projects.add_project_member(session, access, body.user_id, role=body.role,
                                               actor_id=caller)
    return ProjectMember(**asdict(member))


@router.patch("/{id}/members/{user_id}", response_model=ProjectMember,
              responses=problems(r403="Not a project admin",
                                 r404="Project not visible, or no such member",
                                 r409="An implicit admin", r422="Invalid body"))
async def change_project_member_role(access: AdministeredProject, user_id: TargetUserId,
                                     body: ProjectMemberUpdate, caller: CurrentUserId,
                                     session: DbSession) -> ProjectMember:
    member = await projects.change_project_member_role(session, access, user_id,
                                                       role=body.role, actor_id=caller)
    return ProjectMember(**asdict(member))


@router.delete("/{id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response,
               responses=problems(r403="Not a project admin (and not leaving)",
                                  r404="Project not visible, or no such member",
                                  r409="An implicit admin"))
async def remove_project_member(access: LockedProject, user_id: TargetUserId,
                                caller: CurrentUserId, session: DbSession) -> Response:
    """Remove a member (project admin) or leave the project (the member themself)."""
    await projects.remove_project_member(session, access, user_id, actor_id=caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
