"""Read-through to identity when the user directory misses (rule 3: no visible lag).

Calls go straight to identity (``settings.identity_url``, never through the gateway) with the
caller's own ``Authorization`` header. A short timeout: identity unreachable -> 503."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from chassis.errors import ServiceUnavailable
from chassis.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class IdentityUser:
    id: uuid.UUID
    email: str
    full_name: str


class IdentityClient:
    """``transport`` lets tests serve identity from an in-process ASGI app."""

    def __init__(self, base_url: str, *, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport

    async def _get(self, path: str, *, params: dict[str, str] | None,
                   authorization: str | None) -> httpx.Response:
        headers = {"Authorization": authorization} if authorization else {}
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout,
                                         transport=self.transport) as client:
                return await client.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("identity_unreachable", path=path, error=repr(exc)[:300])
            raise ServiceUnavailable("The identity service is unavailable; retry shortly",
                                     headers={"Retry-After": "1"}) from exc

    @staticmethod
    def _user(response: httpx.Response, path: str) -> IdentityUser:
        try:
            body = response.json()
            return IdentityUser(id=uuid.UUID(str(body["id"])), email=str(body["email"]).lower(),
                                full_name=str(body["full_name"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("identity_bad_answer", path=path, status=response.status_code)
            raise ServiceUnavailable("The identity service gave an unexpected answer") from exc

    def _unexpected(self, response: httpx.Response, path: str) -> ServiceUnavailable:
        log.warning("identity_unexpected_status", path=path, status=response.status_code)
        return ServiceUnavailable("The identity service is unavailable; retry shortly",
                                  headers={"Retry-After": "1"})

    async def user_by_email(self, email: str, *, authorization: str | None) -> IdentityUser | None:
        """The registered user with this e-mail, or None (identity answered 404)."""
        path = "/internal/v1/users/lookup"
        response = await self._get(path, params={"email": email}, authorization=authorization)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._unexpected(response, path)
        return self._user(response, path)

    async def me(self, *, authorization: str | None) -> IdentityUser | None:
        """The caller's own account (``GET /api/v1/users/me``), or None if identity does not
        know it."""
        path = "/api/v1/users/me"
        response = await self._get(path, params=None, authorization=authorization)
        if response.status_code in (401, 404):
            return None
        if response.status_code != 200:
            raise self._unexpected(response, path)
        return self._user(response, path)
