"""Plain helpers of the notifier tests, a module of the ``services.notifier.tests`` package::

    from services.notifier.tests.notifier_helpers import ...
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jwt
from contracts.events import (
    CommentChanged,
    Envelope,
    ProjectMemberAdded,
    ProjectRole,
    Reminder,
    TaskAssigned,
    TaskSnapshot,
    TaskUnassigned,
    TeamMemberAdded,
    TeamRole,
    UserRegistered,
    UserUpdated,
    make_event,
)
from devstack.testing import assert_problem as assert_problem  # the tests import it here

ISSUER = "kanban-identity"
AUDIENCE = "kanban"
KID = "notifier-test-key"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def sign_token(private_key: Any, user_id: uuid.UUID | str, *, kid: str = KID,
               **claims: Any) -> str:
    """An RS256 access token like identity's; ``claims`` override or add claims."""
    now = int(time.time())
    body = {"sub": str(user_id), "iss": ISSUER, "aud": AUDIENCE, "iat": now,
            "exp": now + 900, "jti": uuid.uuid4().hex, "typ": "access", **claims}
    return jwt.encode(body, private_key, algorithm="RS256", headers={"kid": kid})


async def eventually(predicate: Callable[[], Awaitable[Any]], timeout: float = 15.0,
                     interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


# --- people and events ---------------------------------------------------------------------


@dataclass
class Person:
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    full_name: str = "Ada Lovelace"
    email: str = field(default_factory=unique_email)

    def registered(self) -> Envelope:
        return make_event("user.registered", UserRegistered(
            user_id=self.id, email=self.email, full_name=self.full_name), producer="identity")

    def updated(self, *, email: str | None = None, full_name: str | None = None) -> Envelope:
        return make_event("user.updated", UserUpdated(
            user_id=self.id, email=email or self.email, full_name=full_name or self.full_name),
            producer="identity")


@dataclass
class Task:
    created_by: uuid.UUID
    title: str = "Fix the login page"
    task_id: uuid.UUID = field(default_factory=uuid.uuid4)
    project_id: uuid.UUID = field(default_factory=uuid.uuid4)
    board_id: uuid.UUID = field(default_factory=uuid.uuid4)
    list_id: uuid.UUID = field(default_factory=uuid.uuid4)
    assignee_id: uuid.UUID | None = None
    due_at: datetime | None = None
    version: int = 1

    def snapshot(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "project_id": self.project_id,
                "board_id": self.board_id, "list_id": self.list_id, "title": self.title,
                "assignee_id": self.assignee_id, "due_at": self.due_at,
                "created_by": self.created_by, "version": self.version}

    def created(self, *, actor: uuid.UUID | None = None) -> Envelope:
        return make_event("task.created", TaskSnapshot(**self.snapshot()), producer="boards",
                          actor_id=actor or self.created_by)

    def assign(self, assignee: uuid.UUID | None, *, actor: uuid.UUID) -> Envelope:
        previous = self.assignee_id
        self.assignee_id, self.version = assignee, self.version + 1
        if assignee is None:
            assert previous is not None
            return make_event("task.unassigned", TaskUnassigned(
                **self.snapshot(), previous_assignee_id=previous), producer="boards",
                actor_id=actor)
        return make_event("task.assigned", TaskAssigned(
            **self.snapshot(), previous_assignee_id=previous), producer="boards",
            actor_id=actor)

    def deleted(self, *, actor: uuid.UUID) -> Envelope:
        return make_event("task.deleted", TaskSnapshot(**self.snapshot()), producer="boards",
                          actor_id=actor)

    def comment(self, author: uuid.UUID, body: str = "Looks good to me", *,
                creator_in_project: bool = True) -> Envelope:
        return make_event("comment.created", CommentChanged(
            comment_id=uuid.uuid4(), task_id=self.task_id, project_id=self.project_id,
            task_title=self.title, author_id=author, task_assignee_id=self.assignee_id,
            task_created_by=self.created_by, body=body,
            task_creator_in_project=creator_in_project), producer="boards", actor_id=author)

    def reminder(self, kind: str = "due_soon", *, due_at: datetime | None = None) -> Envelope:
        assert self.assignee_id is not None
        return make_event(f"reminder.{kind}", Reminder(
            task_id=self.task_id, project_id=self.project_id, task_title=self.title,
            assignee_id=self.assignee_id,
            due_at=due_at or self.due_at or datetime.now(UTC) + timedelta(hours=1)),
            producer="scheduler")


def team_member_added(user: Person, *, actor: uuid.UUID, team_name: str = "Platform",
                      role: TeamRole = "member") -> Envelope:
    return make_event("team.member_added", TeamMemberAdded(
        team_id=uuid.uuid4(), team_name=team_name, user_id=user.id, email=user.email,
        full_name=user.full_name, role=role), producer="workspace", actor_id=actor)


def project_member_added(user: Person, *, actor: uuid.UUID, implicit: bool = False,
                         project_name: str = "Apollo",
                         role: ProjectRole = "editor") -> Envelope:
    return make_event("project.member_added", ProjectMemberAdded(
        project_id=uuid.uuid4(), team_id=uuid.uuid4(), project_name=project_name,
        user_id=user.id, email=user.email, full_name=user.full_name, role=role,
        implicit=implicit), producer="workspace", actor_id=actor)


def redelivered(envelope: Envelope, **changes: Any) -> Envelope:
    """The same event (same event_id) again, possibly with other envelope fields."""
    return envelope.model_copy(update=changes)



# --- the SMTP sink --------------------------------------------------------------------------


def parse_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


class Mailbox:
    """The .eml files of an SMTP sink folder, parsed and filtered by recipient."""

    def __init__(self, paths: Callable[[], list[Path]]) -> None:
        self.paths = paths
        self._parsed: dict[Path, EmailMessage] = {}

    def all(self) -> list[EmailMessage]:
        for path in self.paths():
            if path not in self._parsed:
                self._parsed[path] = parse_eml(path)
        return list(self._parsed.values())

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.all() if address.lower() in str(m["To"]).lower()]

    async def wait_for(self, address: str, count: int = 1,
                       timeout: float = 15.0) -> list[EmailMessage]:
        async def enough() -> list[EmailMessage] | None:
            found = self.to(address)
            return found if len(found) >= count else None
        return await eventually(enough, timeout)
