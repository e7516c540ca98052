"""The event envelope and the typed, versioned payload of every event type.

Producers build an :class:`Envelope` with :func:`make_event`; consumers parse the raw dict
with :func:`parse_event`. Payload models ignore unknown fields, so a producer may add an
optional field without redeploying its consumers; a breaking change gets a new version.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Payload(BaseModel):
    """Base of every event payload: tolerant reader (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- identity ---------------------------------------------------------------------------


class UserRegistered(Payload):
    user_id: uuid.UUID
    email: str
    full_name: str


class UserUpdated(Payload):
    user_id: uuid.UUID
    email: str
    full_name: str


# --- workspace --------------------------------------------------------------------------

TeamRole = Literal["owner", "admin", "member"]
ProjectRole = Literal["admin", "editor", "viewer"]


class TeamCreated(Payload):
    team_id: uuid.UUID
    name: str
    owner_id: uuid.UUID


class TeamUpdated(Payload):
    team_id: uuid.UUID
    name: str


class TeamDeleted(Payload):
    team_id: uuid.UUID
    name: str


class TeamMemberAdded(Payload):
    team_id: uuid.UUID
    team_name: str
    user_id: uuid.UUID
    email: str
    full_name: str
    role: TeamRole


class TeamMemberRoleChanged(Payload):
    team_id: uuid.UUID
    team_name: str
    user_id: uuid.UUID
    email: str
    full_name: str
    old_role: TeamRole
    role: TeamRole


class TeamMemberRemoved(Payload):
    team_id: uuid.UUID
    team_name: str
    user_id: uuid.UUID
    email: str
    full_name: str
    role: TeamRole


class ProjectCreated(Payload):
    project_id: uuid.UUID
    team_id: uuid.UUID
    name: str
    description: str = ""
    created_by: uuid.UUID
    # Users with an implicit admin role (team owner and admins) at creation time.
    implicit_admin_ids: list[uuid.UUID] = Field(default_factory=list)


class ProjectUpdated(Payload):
    project_id: uuid.UUID
    team_id: uuid.UUID
    name: str
    description: str = ""


class ProjectDeleted(Payload):
    project_id: uuid.UUID
    team_id: uuid.UUID
    name: str


class ProjectMemberAdded(Payload):
    project_id: uuid.UUID
    team_id: uuid.UUID
    project_name: str
    user_id: uuid.UUID
    email: str
    full_name: str
    role: ProjectRole
    implicit: bool = False


class ProjectMemberRoleChanged(Payload):
    project_id: uuid.UUID
    team_id: uuid.UUID
    project_name: str
    user_id: uuid.UUID
    email: str
    full_name: str
    old_role: ProjectRole
    role: ProjectRole
    implicit: bool = False


class ProjectMemberRemoved(Payload):
    project_id: uuid.UUID
    team_id: uuid.UUID
    project_name: str
    user_id: uuid.UUID
    email: str
    full_name: str
    role: ProjectRole
    implicit: bool = False


# --- boards -----------------------------------------------------------------------------


class BoardChanged(Payload):
    board_id: uuid.UUID
    project_id: uuid.UUID
    name: str


class ListChanged(Payload):
    list_id: uuid.UUID
    board_id: uuid.UUID
    project_id: uuid.UUID
    name: str
    position: str
    wip_limit: int | None = None


class TaskSnapshot(Payload):
    """What the notifier and scheduler need of a task, without calling back."""

    task_id: uuid.UUID
    project_id: uuid.UUID
    board_id: uuid.UUID
    list_id: uuid.UUID
    title: str
    assignee_id: uuid.UUID | None = None
    due_at: AwareDatetime | None = None
    created_by: uuid.UUID
    version: int


class TaskUpdated(TaskSnapshot):
    changed_fields: list[str] = Field(default_factory=list)


class TaskMoved(TaskSnapshot):
    from_list_id: uuid.UUID
    position: str


class TaskAssigned(TaskSnapshot):
    previous_assignee_id: uuid.UUID | None = None


class TaskUnassigned(TaskSnapshot):
    previous_assignee_id: uuid.UUID


class TaskDueDateChanged(TaskSnapshot):
    previous_due_at: AwareDatetime | None = None


class CommentChanged(Payload):
    comment_id: uuid.UUID
    task_id: uuid.UUID
    project_id: uuid.UUID
    task_title: str
    author_id: uuid.UUID
    task_assignee_id: uuid.UUID | None = None
    task_created_by: uuid.UUID
    body: str = ""
    # False when the task's creator no longer holds a role in the project: they must not be
    # told about comments there. Events written before this field existed read as True.
    task_creator_in_project: bool = True


# --- scheduler --------------------------------------------------------------------------


class Reminder(Payload):
    task_id: uuid.UUID
    project_id: uuid.UUID
    task_title: str
    assignee_id: uuid.UUID
    due_at: AwareDatetime


# Registry: (type, version) -> payload model; contracts.catalog documents every entry.
PAYLOADS: dict[tuple[str, int], type[Payload]] = {
    ("user.registered", 1): UserRegistered,
    ("user.updated", 1): UserUpdated,
    ("team.created", 1): TeamCreated,
    ("team.updated", 1): TeamUpdated,
    ("team.deleted", 1): TeamDeleted,
    ("team.member_added", 1): TeamMemberAdded,
    ("team.member_role_changed", 1): TeamMemberRoleChanged,
    ("team.member_removed", 1): TeamMemberRemoved,
    ("project.created", 1): ProjectCreated,
    ("project.updated", 1): ProjectUpdated,
    ("project.deleted", 1): ProjectDeleted,
    ("project.member_added", 1): ProjectMemberAdded,
    ("project.member_role_changed", 1): ProjectMemberRoleChanged,
    ("project.member_removed", 1): ProjectMemberRemoved,
    ("board.created", 1): BoardChanged,
    ("board.updated", 1): BoardChanged,
    ("board.deleted", 1): BoardChanged,
    ("list.created", 1): ListChanged,
    ("list.updated", 1): ListChanged,
    ("list.moved", 1): ListChanged,
    ("list.deleted", 1): ListChanged,
    ("task.created", 1): TaskSnapshot,
    ("task.updated", 1): TaskUpdated,
    ("task.moved", 1): TaskMoved,
    ("task.assigned", 1): TaskAssigned,
    ("task.unassigned", 1): TaskUnassigned,
    ("task.due_date_changed", 1): TaskDueDateChanged,
    ("task.deleted", 1): TaskSnapshot,
    ("comment.created", 1): CommentChanged,
    ("comment.updated", 1): CommentChanged,
    ("comment.deleted", 1): CommentChanged,
    ("reminder.due_soon", 1): Reminder,
    ("reminder.overdue", 1): Reminder,
}


class Envelope(BaseModel):
    """Every event on every stream. ``data`` is validated against the (type, version) model."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID
    type: str
    version: int = 1
    occurred_at: AwareDatetime
    producer: str
    actor_id: uuid.UUID | None = None
    correlation_id: str | None = None
    data: dict[str, Any]

    def payload(self) -> Payload:
        """The typed payload; raises ``UnknownEventType`` or a pydantic ValidationError."""
        model = PAYLOADS.get((self.type, self.version))
        if model is None:
            raise UnknownEventType(f"{self.type} v{self.version}")
        return model.model_validate(self.data)


class UnknownEventType(LookupError):
    """An event type/version this build does not know; consumers skip such events."""


def make_event(
    event_type: str,
    payload: Payload,
    *,
    producer: str,
    actor_id: uuid.UUID | None = None,
    correlation_id: str | None = None,
    version: int = 1,
) -> Envelope:
    """Build an envelope, checking that the payload model matches the registered type."""
    expected = PAYLOADS.get((event_type, version))
    if expected is None or not isinstance(payload, expected):
        raise TypeError(f"payload {type(payload).__name__} does not match {event_type} v{version}")
    return Envelope(
        event_id=uuid.uuid4(),
        type=event_type,
        version=version,
        occurred_at=datetime.now(UTC),
        producer=producer,
        actor_id=actor_id,
        correlation_id=correlation_id,
        data=payload.model_dump(mode="json"),
    )


def parse_event(raw: dict[str, Any]) -> Envelope:
    """Parse the raw envelope dict read from a stream."""
    return Envelope.model_validate(raw)
