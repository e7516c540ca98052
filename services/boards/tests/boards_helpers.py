"""Factories and helpers of the boards tests, a module of the ``services.boards.tests`` package::

    from services.boards.tests.boards_helpers import ...
"""

from __future__ import annotations

import builtins
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import sqlalchemy as sa
from boards.events.consumer import BoardsConsumer
from contracts.events import (
    Payload,
    ProjectCreated,
    ProjectMemberAdded,
    ProjectMemberRemoved,
    ProjectMemberRoleChanged,
    ProjectRole,
    UserRegistered,
    make_event,
)
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.testing import assert_problem as assert_problem  # the tests import it here
from starlette.types import Receive, Scope, Send

KID = "test-key"
ROLES: tuple[ProjectRole, ...] = ("admin", "editor", "viewer")


class Tokens:
    """Signs access tokens the way identity does (RS256, kid, typ "access")."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key
        self.public_key = key.public_key()

    def access_token(self, user_id: uuid.UUID, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"sub": str(user_id), "iss": "kanban-identity", "aud": "kanban",
                  "iat": now, "exp": now + 900, "jti": uuid.uuid4().hex, "typ": "access",
                  **overrides}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})


class WorkspaceStub:
    """Stands in for workspace's ``GET /api/v1/projects/{id}`` (``my_role`` from ``roles`` for
    the user of the bearer token, else 404) and ``GET /api/v1/projects/{id}/members`` (the
    project's members in ``roles``, one page). Records every call."""

    def __init__(self) -> None:
        self.roles: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
        self.teams: dict[uuid.UUID, uuid.UUID] = {}
        self.calls: list[tuple[uuid.UUID, uuid.UUID]] = []
        self.down = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        if self.down:
            raise httpx.ConnectError("workspace is down")
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
        user_id = uuid.UUID(jwt.decode(token, options={"verify_signature": False})["sub"])
        parts = scope["path"].strip("/").split("/")  # api v1 projects <id> [members]
        project_id = uuid.UUID(parts[3])
        self.calls.append((project_id, user_id))
        role = self.roles.get((project_id, user_id))
        status = 200 if role else 404
        if role and parts[4:] == ["members"]:
            members = [{"user_id": str(u), "role": r} for (p, u), r in self.roles.items()
                       if p == project_id]
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": json.dumps(
                {"items": members, "next_cursor": None}).encode()})
            return
        body = {"id": str(project_id), "team_id": str(self.teams.get(project_id, uuid.uuid4())),
                "name": "P", "description": "", "created_at": "2026-01-01T00:00:00Z",
                "my_role": role} if role else {"status": 404}
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


@dataclass
class User:
    id: uuid.UUID
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Project:
    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    admin: User


@dataclass
class Scenario:
    """A project with one user per role, an outsider, and a board, list and task."""

    project: Project
    users: dict[str, User]
    board: dict
    list: dict
    task: dict
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    client: httpx.AsyncClient
    consumer: BoardsConsumer
    tokens: Tokens
    workspace: WorkspaceStub
    db: sa.Engine

    # --- events -----------------------------------------------------------------------------

    async def feed(self, event_type: str, payload: Payload, *, actor: User | None = None,
                   producer: str = "workspace") -> dict:
        """Deliver one event through the real consumer (idempotency + handler + commit)."""
        envelope = make_event(event_type, payload, producer=producer,
                              actor_id=actor.id if actor else None,
                              correlation_id=f"test-{uuid.uuid4().hex[:8]}")
        body = envelope.model_dump(mode="json")
        assert await self.consumer.process(body)
        return body

    async def user(self, name: str = "Alice") -> User:
        user_id = uuid.uuid4()
        await self.feed("user.registered", UserRegistered(
            user_id=user_id, email=f"{user_id.hex[:10]}@example.com", full_name=name),
            producer="identity")
        return User(id=user_id, name=name, token=self.tokens.access_token(user_id))

    def stranger(self, name: str = "Stranger") -> User:
        """A user the boards service has never heard of."""
        user_id = uuid.uuid4()
        return User(id=user_id, name=name, token=self.tokens.access_token(user_id))

    async def project(self, admin: User, *, name: str = "Apollo",
                      team_id: uuid.UUID | None = None,
                      implicit_admins: tuple[User, ...] = ()) -> Project:
        project = Project(id=uuid.uuid4(), team_id=team_id or uuid.uuid4(), name=name,
                          admin=admin)
        await self.feed("project.created", ProjectCreated(
            project_id=project.id, team_id=project.team_id, name=name, created_by=admin.id,
            implicit_admin_ids=[u.id for u in implicit_admins]), actor=admin)
        return project

    async def add_member(self, project: Project, user: User, role: ProjectRole, *,
                         actor: User | None = None, implicit: bool = False) -> dict:
        return await self.feed("project.member_added", ProjectMemberAdded(
            project_id=project.id, team_id=project.team_id, project_name=project.name,
            user_id=user.id, email=f"{user.id.hex[:10]}@example.com", full_name=user.name,
            role=role, implicit=implicit), actor=actor or project.admin)

    async def change_role(self, project: Project, user: User, old: ProjectRole,
                          role: ProjectRole, *, actor: User | None = None) -> dict:
        return await self.feed("project.member_role_changed", ProjectMemberRoleChanged(
            project_id=project.id, team_id=project.team_id, project_name=project.name,
            user_id=user.id, email=f"{user.id.hex[:10]}@example.com", full_name=user.name,
            old_role=old, role=role), actor=actor or project.admin)

    async def remove_member(self, project: Project, user: User, role: ProjectRole, *,
                            actor: User | None = None) -> dict:
        return await self.feed("project.member_removed", ProjectMemberRemoved(
            project_id=project.id, team_id=project.team_id, project_name=project.name,
            user_id=user.id, email=f"{user.id.hex[:10]}@example.com", full_name=user.name,
            role=role), actor=actor)

    # --- HTTP factories ---------------------------------------------------------------------

    async def created(self, user: User, path: str, body: dict) -> dict:
        response = await self.client.post(path, json=body, headers=user.headers)
        assert response.status_code == 201, response.text
        return response.json()

    async def board(self, user: User, project: Project, name: str = "Sprint") -> dict:
        return await self.created(user, "/api/v1/boards",
                                  {"project_id": str(project.id), "name": name})

    async def list(self, user: User, board: dict, name: str = "To do",
                   wip_limit: int | None = None) -> dict:
        return await self.created(user, "/api/v1/lists", {"board_id": board["id"], "name": name,
                                                          "wip_limit": wip_limit})

    async def task(self, user: User, target: dict, title: str = "Fix login",
                   **fields: Any) -> dict:
        return await self.created(user, "/api/v1/tasks",
                                  {"list_id": target["id"], "title": title, **fields})

    async def scenario(self) -> Scenario:
        admin = await self.user("Ada Admin")
        project = await self.project(admin)
        users = {"admin": admin}
        for role in ("editor", "viewer"):
            users[role] = await self.user(f"{role.title()} User")
            await self.add_member(project, users[role], role)
        users["outsider"] = await self.user("Olga Outsider")
        board = await self.board(admin, project)
        target = await self.list(admin, board)
        task = await self.task(admin, target)
        return Scenario(project=project, users=users, board=board, list=target, task=task)

    # --- looking at the database ------------------------------------------------------------

    def events(self, event_type: str | None = None, **data: str) -> builtins.list[dict]:
        """Envelopes in the outbox, oldest first, filtered by type and payload fields."""
        query = "SELECT envelope FROM boards.outbox WHERE true"
        params: dict[str, Any] = {}
        if event_type:
            query += " AND envelope->>'type' = :type"
            params["type"] = event_type
        for i, (key, value) in enumerate(data.items()):
            query += f" AND envelope->'data'->>'{key}' = :v{i}"
            params[f"v{i}"] = str(value)
        with self.db.connect() as conn:
            return [row[0] for row in conn.execute(sa.text(query + " ORDER BY id"), params)]

    def scalar(self, query: str, **params: Any) -> Any:
        with self.db.connect() as conn:
            return conn.execute(sa.text(query), params).scalar()
