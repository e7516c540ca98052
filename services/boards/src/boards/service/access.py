"""Who may do what: effective project roles from the local read model, with a read-through
to workspace on a miss.

The read model (``project_members``) is fed by workspace events (see
:mod:`boards.service.directory`). A *miss* (no row, or a removed-member tombstone) is not an
answer: the project may be seconds old, so we ask workspace once, forwarding the caller's
own bearer token: ``GET {workspace_url}/api/v1/projects/{id}`` -> 200 with ``my_role`` or
404. That answer serves this request only and is never written into the read model (the
event will arrive; writing it could race with a later removal). Nothing is cached.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

import httpx
import sqlalchemy as sa
from chassis.errors import Forbidden, NotFound, ServiceUnavailable
from chassis.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession

from boards.models import project_members, projects

log = get_logger(__name__)

Role = Literal["viewer", "editor", "admin"]
VIEWER: Role = "viewer"
EDITOR: Role = "editor"
ADMIN: Role = "admin"
_RANK: dict[str, int] = {VIEWER: 1, EDITOR: 2, ADMIN: 3}


def at_least(role: str | None, minimum: Role) -> bool:
    return role is not None and _RANK.get(role, 0) >= _RANK[minimum]


class Workspace:
    """HTTP client of the workspace service (service network, never the gateway)."""

    def __init__(self, base_url: str, *, timeout: float = 3.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                         transport=transport)

    async def my_role(self, project_id: uuid.UUID, authorization: str | None,
                      request_id: str | None = None) -> str | None:
        """The caller's role in ``project_id`` according to workspace, or None (404)."""
        if not authorization:
            return None
        headers = {"Authorization": authorization}
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            response = await self._client.get(f"/api/v1/projects/{project_id}",
                                              headers=headers)
        except httpx.HTTPError as exc:
            log.warning("workspace_unreachable", error=repr(exc)[:300])
            raise ServiceUnavailable("Project permissions cannot be checked right now; "
                                     "retry shortly", headers={"Retry-After": "1"}) from exc
        if response.status_code in (403, 404):
            return None
        if response.status_code != 200:
            log.warning("workspace_read_through_failed", status=response.status_code)
            raise ServiceUnavailable("Project permissions cannot be checked right now; "
                                     "retry shortly", headers={"Retry-After": "1"})
        role = response.json().get("my_role")
        log.info("project_role_read_through", project_id=str(project_id), role=role)
        return role if role in _RANK else None

    async def member_role(self, project_id: uuid.UUID, user_id: uuid.UUID,
                          authorization: str | None, request_id: str | None = None) -> str | None:
        """Another user's role in ``project_id`` according to workspace (read-through on a
        read-model miss, e.g. a member added a moment ago), asked with the caller's token:
        the member list, paged. None when they have no role (or the caller cannot see it)."""
        if not authorization:
            return None
        headers = {"Authorization": authorization}
        if request_id:
            headers["X-Request-ID"] = request_id
        params: dict[str, str | int] = {"limit": 200}
        while True:
            try:
                response = await self._client.get(f"/api/v1/projects/{project_id}/members",
                                                  headers=headers, params=params)
            except httpx.HTTPError as exc:
                raise ServiceUnavailable("Project members cannot be checked right now; "
                                         "retry shortly", headers={"Retry-After": "1"}) from exc
            if response.status_code != 200:
                return None
            page = response.json()
            for member in page.get("items", []):
                if member.get("user_id") == str(user_id):
                    role = member.get("role")
                    return role if role in _RANK else None
            if not page.get("next_cursor"):
                return None
            params = {"limit": 200, "cursor": page["next_cursor"]}

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass
class Caller:
    """The signed-in user of a request, with what a read-through needs."""

    user_id: uuid.UUID
    authorization: str | None
    workspace: Workspace
    request_id: str | None = None
    # Roles resolved during this request (one lookup per project per request).
    _roles: dict[uuid.UUID, str | None] = field(default_factory=dict)


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
            role = await caller.workspace.my_role(project_id, caller.authorization,
                                                  caller.request_id)
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
