"""The HTTP client of identity, for read-through when the user directory misses (no visible
lag): straight to ``settings.identity_url`` with the caller's own ``Authorization`` header,
under a short timeout; identity unreachable or answering oddly -> 503
(:mod:`chassis.service_client`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from chassis.service_client import ServiceClient


@dataclass(frozen=True)
class IdentityUser:
    id: uuid.UUID
    email: str
    full_name: str


class IdentityClient(ServiceClient):
    def _user(self, body: dict[str, Any] | None, path: str) -> IdentityUser | None:
        if body is None:
            return None
        try:
            return IdentityUser(id=uuid.UUID(str(body["id"])), email=str(body["email"]).lower(),
                                full_name=str(body["full_name"]))
        except (ValueError, KeyError) as exc:
            raise self.unavailable(path, status=200) from exc

    async def user_by_email(self, email: str, *, authorization: str | None) -> IdentityUser | None:
        """The registered user with this e-mail, or None (identity answered 404)."""
        path = "/internal/v1/users/lookup"
        return self._user(await self.get_json(path, params={"email": email},
                                              authorization=authorization), path)

    async def me(self, *, authorization: str | None) -> IdentityUser | None:
        """The caller's own account (``GET /api/v1/users/me``), or None if identity does not
        know it."""
        path = "/api/v1/users/me"
        return self._user(await self.get_json(path, authorization=authorization,
                                              absent=(401, 404)), path)
