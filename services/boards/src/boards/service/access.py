"""Who may do what: effective project roles from the local read model, with a read-through
to workspace on a miss. The API layer (``boards.deps`` and the routers) asks these questions
before it calls a service function; the service functions assume an authorized caller.

The read model (``project_members``) is fed by workspace events (see
:mod:`boards.service.read_model`). A *miss* (no row, or a removed-member tombstone) is not an
answer: the project may be seconds old, so we ask workspace once, forwarding the caller's
own bearer token: ``GET {workspace_url}/api/v1/projects/{id}`` -> 200 with ``my_role`` or
404. That answer serves this request only and is never written into the read model (the
event will arrive; writing it could race with a later removal). Nothing is cached.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from chassis.errors import Forbidden, NotFound
from sqlalchemy.ext.asyncio import AsyncSession

from boards.domain.roles import Role, at_least
from boards.models import project_members, projects
from boards.service.workspace_client import WorkspaceClient


@dataclass
class Caller:
    """The signed-in user of a request, with what a read-through needs."""

    user_id: uuid.UUID
    authorization: str | None
    workspace: WorkspaceClient
    # Roles resolved during this request (one lookup per project per request).
    _roles: dict[uuid.UUID, str | None] = field(default_factory=dict)


@functools.cache
def _row_with_role_query(table: sa.Table) -> sa.Select[Any]:
    """Built once per table (its SQL cache key is then computed once, too)."""
    return (sa.select(table, project_members.c.role.label("caller_role"))
            .outerjoin(project_members,
                       (project_members.c.project_id == table.c.project_id)
                       & (project_members.c.user_id
                          == sa.bindparam("user_id", type_=project_members.c.user_id.type)))
            .where(table.c.id == sa.bindparam("row_id", type_=table.c.id.type)))


async def row_with_role(session: AsyncSession, caller: Caller, table: sa.Table,
                        row_id: uuid.UUID, *, what: str) -> sa.Row[Any]:
    """The row of ``table`` (which has a ``project_id``) whose id is ``row_id``, read
    together with the caller's role in the read model (one query; the role is remembered
    for this request, so :func:`require_role` asks nothing more); 404 if there is no row."""
    row: sa.Row[Any] | None = (await session.execute(_row_with_role_query(table),
                                                     {"row_id": row_id,
                                                      "user_id": caller.user_id})).first()
    if row is None:
        raise NotFound(f"{what} not found")
    if row.caller_role is not None:   # else a miss: project_role's tombstone/read-through
        caller._roles.setdefault(row.project_id, row.caller_role)
    return row


async def local_role(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID, *,
                     lock: bool = False) -> str | None:
    """The role in the read model only (None for no row or a removed member). ``lock``
    takes FOR SHARE on the row, so a concurrent removal waits for this transaction (an
    assignment cannot slip past the unassign-on-removal)."""
    query = sa.select(project_members.c.role).where(project_members.c.project_id == project_id,
                                                    project_members.c.user_id == user_id)
    if lock:
        query = query.with_for_update(read=True)
    return (await session.execute(query)).scalar_one_or_none()


async def project_role(session: AsyncSession, caller: Caller,
                       project_id: uuid.UUID) -> str | None:
    """The caller's effective role in ``project_id`` (None: the project is invisible)."""
    if project_id in caller._roles:
        return caller._roles[project_id]
    role = await local_role(session, project_id, caller.user_id)
    if role is None:
        deleted = (await session.execute(
            sa.select(projects.c.deleted_at).where(projects.c.id == project_id)
        )).scalar_one_or_none()
        if deleted is None:
            role = await caller.workspace.my_role(project_id, caller.authorization)
    caller._roles[project_id] = role
    return role


async def require_role(session: AsyncSession, caller: Caller, project_id: uuid.UUID,
                       minimum: Role, *, what: str = "Resource") -> str:
    """The caller's role, at least ``minimum``: 404 if they cannot see the project, 403 if
    their role is too low."""
    role = await project_role(session, caller, project_id)
    if role is None:
        raise NotFound(f"{what} not found")
    if not at_least(role, minimum):
        raise Forbidden(f"Your role in this project ({role}) does not allow this")
    return role
