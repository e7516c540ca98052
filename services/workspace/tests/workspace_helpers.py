"""Plain helpers of the workspace tests, a module of the ``services.workspace.tests`` package::

    from services.workspace.tests.workspace_helpers import ...
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from contracts.events import Envelope
from devstack.testing import assert_problem as assert_problem  # the tests import it here
from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse

ISSUER = "kanban-identity"
AUDIENCE = "kanban"
KID = "test-key-1"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def sign_token(private_key: Any, user_id: uuid.UUID | str, *, kid: str = KID,
               **claims: Any) -> str:
    """An RS256 token like identity's; ``claims`` override or add claims."""
    now = int(time.time())
    body = {"sub": str(user_id), "iss": ISSUER, "aud": AUDIENCE, "iat": now,
            "exp": now + 900, "jti": uuid.uuid4().hex, "typ": "access", **claims}
    return jwt.encode(body, private_key, algorithm="RS256", headers={"kid": kid})


@dataclass
class TestUser:
    __test__ = False  # not a pytest test class

    id: uuid.UUID
    email: str
    full_name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class IdentityStub:
    """Identity's two read-through endpoints, served in-process over HTTP semantics
    (``/internal/v1/users/lookup?email=`` and ``/api/v1/users/me``). Records each call."""

    users: dict[uuid.UUID, dict[str, str]] = field(default_factory=dict)
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    down: bool = False

    def register(self, user: TestUser) -> None:
        self.users[user.id] = {"id": str(user.id), "email": user.email,
                               "full_name": user.full_name,
                               "created_at": "2026-11-26T00:00:00Z"}

    def app(self) -> FastAPI:
        stub = FastAPI()

        def unavailable() -> JSONResponse:
            return JSONResponse({"detail": "down"}, status_code=503)

        @stub.get("/internal/v1/users/lookup")
        async def lookup(email: str = Query(),
                         authorization: str | None = Header(default=None)) -> Any:
            self.calls.append(("lookup", authorization))
            if self.down:
                return unavailable()
            if not authorization or not authorization.startswith("Bearer "):
                return JSONResponse({"detail": "no token"}, status_code=401)
            for user in self.users.values():
                if user["email"] == email.lower():
                    return user
            return JSONResponse({"detail": "no such user"}, status_code=404)

        @stub.get("/api/v1/users/me")
        async def me(authorization: str | None = Header(default=None)) -> Any:
            self.calls.append(("me", authorization))
            if self.down:
                return unavailable()
            if not authorization or not authorization.startswith("Bearer "):
                return JSONResponse({"detail": "no token"}, status_code=401)
            claims = jwt.decode(authorization.removeprefix("Bearer "),
                                options={"verify_signature": False})
            user = self.users.get(uuid.UUID(claims["sub"]))
            if user is None:
                return JSONResponse({"detail": "gone"}, status_code=401)
            return user

        return stub


class Api:
    """Thin factories over the HTTP API (each asserts success)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create_team(self, owner: TestUser, name: str = "Team") -> dict[str, Any]:
        response = await self.client.post("/api/v1/teams", json={"name": name},
                                          headers=owner.headers)
        assert response.status_code == 201, response.text
        return response.json()

    async def add_member(self, team: dict, by: TestUser, user: TestUser,
                         role: str = "member") -> dict[str, Any]:
        response = await self.client.post(f"/api/v1/teams/{team['id']}/members",
                                          json={"email": user.email, "role": role},
                                          headers=by.headers)
        assert response.status_code == 201, response.text
        return response.json()

    async def set_team_role(self, team: dict, by: TestUser, user: TestUser,
                            role: str) -> dict[str, Any]:
        response = await self.client.patch(f"/api/v1/teams/{team['id']}/members/{user.id}",
                                           json={"role": role}, headers=by.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def create_project(self, team: dict, by: TestUser, name: str = "Project",
                             **extra: Any) -> dict[str, Any]:
        response = await self.client.post("/api/v1/projects",
                                          json={"team_id": team["id"], "name": name, **extra},
                                          headers=by.headers)
        assert response.status_code == 201, response.text
        return response.json()

    async def add_project_member(self, project: dict, by: TestUser, user: TestUser,
                                 role: str) -> dict[str, Any]:
        response = await self.client.post(f"/api/v1/projects/{project['id']}/members",
                                          json={"user_id": str(user.id), "role": role},
                                          headers=by.headers)
        assert response.status_code == 201, response.text
        return response.json()

    async def all_pages(self, path: str, user: TestUser, **params: Any) -> list[dict]:
        items: list[dict] = []
        cursor = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            response = await self.client.get(path, params=query, headers=user.headers)
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["items"]
            cursor = body["next_cursor"]
            if cursor is None:
                return items


class World:
    """One team with every kind of caller: owner, team admin, plain member (no project role),
    explicit project admin/editor/viewer (team role member), a spare team member with no
    project role, a spare explicit project viewer, and an outsider. One project."""

    owner: TestUser
    admin: TestUser
    member: TestUser
    p_admin: TestUser
    p_editor: TestUser
    p_viewer: TestUser
    spare: TestUser
    spare_viewer: TestUser
    outsider: TestUser
    team: dict
    project: dict

    def caller(self, role: str) -> TestUser:
        return getattr(self, role)


ROLES = ["owner", "admin", "member", "p_admin", "p_editor", "p_viewer", "outsider"]


def summary(events: list[Envelope]) -> list[tuple]:
    """(type, user_id or None, role, implicit) of each event, for compact assertions."""
    out = []
    for event in events:
        data = event.data
        out.append((event.type, data.get("user_id"), data.get("role"), data.get("implicit")))
    return out
