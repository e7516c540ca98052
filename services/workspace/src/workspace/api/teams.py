"""/api/v1/teams: teams and their members."""

from __future__ import annotations

from dataclasses import asdict

from chassis.pagination import Page, Paging
from fastapi import APIRouter, Response, status

from workspace.api.responses import problems
from workspace.deps import (
    Authorization,
    CurrentUserId,
    DbSession,
    Identity,
    LockedTeam,
    ManagedTeam,
    OwnedTeam,
    TargetUserId,
    VisibleTeam,
)
from workspace.schemas import (
    Member,
    Team,
    TeamCreate,
    TeamMemberCreate,
    TeamMemberUpdate,
    TeamUpdate,
)
from workspace.service import directory, teams

router = APIRouter(prefix="/api/v1/teams", tags=["teams"])

NOT_MEMBER = "Team not found, or the caller is not a member"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Team,
             responses=problems(r422="Invalid body"))
async def create_team(body: TeamCreate, caller: CurrentUserId, session: DbSession,
                      identity: Identity, authorization: Authorization) -> Team:
    """Create a team; the caller becomes its owner."""
    owner = await directory.ensure_caller(session, identity, caller, authorization=authorization)
    return Team(**asdict(await teams.create_team(session, owner=owner, name=body.name)))


@router.get("", response_model=Page[Team], responses=problems(r422="Invalid limit or cursor"))
async def list_teams(caller: CurrentUserId, session: DbSession, paging: Paging) -> Page[Team]:
    """The teams the caller is a member of, oldest first."""
    items, cursor = await teams.list_teams(session, caller, paging)
    return Page[Team](items=[Team(**asdict(t)) for t in items], next_cursor=cursor)


@router.get("/{id}", response_model=Team, responses=problems(r404=NOT_MEMBER))
async def get_team(access: VisibleTeam) -> Team:
    return Team(**asdict(teams.team_view(access)))


@router.patch("/{id}", response_model=Team,
              responses=problems(r403="Not the owner or an admin", r404=NOT_MEMBER,
                                 r422="Invalid body"))
async def rename_team(access: ManagedTeam, body: TeamUpdate, caller: CurrentUserId,
                      session: DbSession) -> Team:
    return Team(**asdict(await teams.rename_team(session, access, name=body.name,
                                                 actor_id=caller)))


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=problems(r403="Not the owner", r404=NOT_MEMBER))
async def delete_team(access: OwnedTeam, caller: CurrentUserId, session: DbSession) -> Response:
    """Delete the team and all its projects (owner only)."""
    await teams.delete_team(session, access, actor_id=caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{id}/members", response_model=Page[Member],
            responses=problems(r404=NOT_MEMBER, r422="Invalid limit or cursor"))
async def list_members(access: VisibleTeam, session: DbSession, paging: Paging) -> Page[Member]:
    """The team's members, in the order they joined."""
    items, cursor = await teams.list_members(session, access.team_id, paging)
    return Page[Member](items=[Member(**asdict(m)) for m in items], next_cursor=cursor)


@router.post("/{id}/members", status_code=status.HTTP_201_CREATED, response_model=Member,
             responses=problems(r403="Not the owner or an admin",
                                r404="Team not visible, or no user with this e-mail",
                                r409="Already a member", r422="Invalid body",
                                r503="Identity unreachable on a user-directory miss"))
async def add_member(access: ManagedTeam, body: TeamMemberCreate, caller: CurrentUserId,
                     session: DbSession, identity: Identity,
                     authorization: Authorization) -> Member:
    """Add a registered user, found by e-mail (case-insensitive), as admin or member."""
    user = await directory.find_by_email(session, identity, str(body.email),
                                         authorization=authorization)
    member = await teams.add_member(session, access, user, role=body.role, actor_id=caller)
    return Member(**asdict(member))


@router.patch("/{id}/members/{user_id}", response_model=Member,
              responses=problems(r403="Not the owner or an admin; or an admin granting owner",
                                 r404="Team not visible, or no such member",
                                 r409="Changing the owner's role other than by a transfer",
                                 r422="Invalid body"))
async def change_member_role(access: ManagedTeam, user_id: TargetUserId,
                             body: TeamMemberUpdate, caller: CurrentUserId,
                             session: DbSession) -> Member:
    """Change a member's role. ``owner`` (owner only) transfers ownership: the old owner
    becomes admin."""
    member = await teams.change_member_role(session, access, user_id, role=body.role,
                                            actor_id=caller)
    return Member(**asdict(member))


@router.delete("/{id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response,
               responses=problems(r403="A plain member removing someone else",
                                  r404="Team not visible, or no such member",
                                  r409="The owner cannot be removed or leave"))
async def remove_member(access: LockedTeam, user_id: TargetUserId, caller: CurrentUserId,
                        session: DbSession) -> Response:
    """Remove a member (owner, admin) or leave the team (any member but the owner). The user
    loses their roles in the team's projects."""
    await teams.remove_member(session, access, user_id, actor_id=caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
