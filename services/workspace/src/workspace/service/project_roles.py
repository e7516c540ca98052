"""Effective project roles and the events that keep consumers' copies of them right.

Boards and notifier keep read models of *effective* project roles (admin if team owner or
admin, else the explicit project role) built only from ``project.created``
(``implicit_admin_ids``) and ``project.member_*`` events. So whenever a team-level change
alters a user's effective role in the team's projects, one ``project.member_*`` event per
affected project is emitted with ``implicit=True`` (the change comes from the team role)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from contracts.events import (
    ProjectMemberAdded,
    ProjectMemberRemoved,
    ProjectMemberRoleChanged,
    TeamRole,
)
from sqlalchemy.ext.asyncio import AsyncSession

from workspace.db import publisher
from workspace.models import IMPLICIT_ADMIN_ROLES, project_members, projects
from workspace.service.access import effective_role
from workspace.service.directory import DirectoryUser


async def team_role_changed(session: AsyncSession, *, team_id: uuid.UUID, user: DirectoryUser,
                            old_team_role: TeamRole | None,
                            new_team_role: TeamRole | None,
                            actor_id: uuid.UUID) -> None:
    """Emit the project events implied by ``user``'s team role going from ``old_team_role``
    to ``new_team_role`` (None = not a member). Call before explicit rows are deleted."""
    rows = (await session.execute(
        sa.select(projects.c.id, projects.c.name, project_members.c.role)
        .select_from(projects.outerjoin(project_members, sa.and_(
            project_members.c.project_id == projects.c.id,
            project_members.c.user_id == user.user_id)))
        .where(projects.c.team_id == team_id)
        .order_by(projects.c.created_at, projects.c.id))).all()
    for project_id, project_name, explicit in rows:
        before = effective_role(old_team_role, explicit)
        after = effective_role(new_team_role, explicit if new_team_role else None)
        if before == after:
            continue
        common = {"project_id": project_id, "team_id": team_id, "project_name": project_name,
                  "user_id": user.user_id, "email": user.email, "full_name": user.full_name}
        if before is None:
            assert after is not None
            await publisher.publish(session, "project.member_added", ProjectMemberAdded(
                **common, role=after, implicit=new_team_role in IMPLICIT_ADMIN_ROLES),
                actor_id=actor_id)
        elif after is None:
            await publisher.publish(session, "project.member_removed", ProjectMemberRemoved(
                **common, role=before, implicit=old_team_role in IMPLICIT_ADMIN_ROLES),
                actor_id=actor_id)
        else:
            await publisher.publish(
                session, "project.member_role_changed", ProjectMemberRoleChanged(
                    **common, old_role=before, role=after, implicit=True), actor_id=actor_id)
