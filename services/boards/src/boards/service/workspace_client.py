"""The HTTP client of workspace, for read-through when the membership read model misses:
straight to ``settings.workspace_url`` with the caller's own bearer token; workspace
unreachable or answering oddly -> 503 (:mod:`chassis.service_client`)."""

from __future__ import annotations

import uuid

from chassis.logging import get_logger
from chassis.service_client import ServiceClient

from boards.domain.roles import known

log = get_logger(__name__)


class WorkspaceClient(ServiceClient):
    async def my_role(self, project_id: uuid.UUID, authorization: str | None) -> str | None:
        """The caller's role in ``project_id`` according to workspace, or None (404)."""
        if not authorization:
            return None
        project = await self.get_json(f"/api/v1/projects/{project_id}",
                                      authorization=authorization, absent=(403, 404))
        role = project.get("my_role") if project else None
        log.info("project_role_read_through", project_id=str(project_id), role=role)
        return known(role)

    async def member_role(self, project_id: uuid.UUID, user_id: uuid.UUID,
                          authorization: str | None) -> str | None:
        """Another user's role in ``project_id`` according to workspace (a member added a
        moment ago), asked with the caller's token: the member list, paged. None when they
        have no role (or the caller cannot see the project)."""
        if not authorization:
            return None
        params: dict[str, str | int] = {"limit": 200}
        while True:
            page = await self.get_json(f"/api/v1/projects/{project_id}/members",
                                       authorization=authorization, params=params,
                                       absent=(403, 404))
            if page is None:
                return None
            for member in page.get("items", []):
                if member.get("user_id") == str(user_id):
                    return known(member.get("role"))
            if not page.get("next_cursor"):
                return None
            params = {"limit": 200, "cursor": page["next_cursor"]}
