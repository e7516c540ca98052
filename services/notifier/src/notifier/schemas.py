"""Request and response bodies of the notifications API. Requests refuse unknown fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

NotificationType = Literal["task_assigned", "due_soon", "overdue", "comment", "membership"]
EmailStatus = Literal["pending", "sending", "sent", "failed"]


class Notification(BaseModel):
    id: uuid.UUID
    type: NotificationType
    title: str
    body: str
    data: dict[str, Any] = Field(
        description="Facts behind the notification, e.g. task_id, project_id, task_title, "
                    "due_at, comment_id, author_id; for membership: kind (team|project), "
                    "team_id/project_id, team_name/project_name, role.")
    read: bool
    created_at: datetime
    read_at: datetime | None = Field(default=None, description="When it was marked read.")
    email_status: EmailStatus | None = Field(
        default=None,
        description="The e-mail made for it: pending (queued or retrying after a transient "
                    "failure), sending, sent, failed (permanent SMTP failure or too many "
                    "attempts); null when no e-mail was wanted (preferences).")


class UnreadCount(BaseModel):
    count: int


class EmailPreferences(BaseModel):
    task_assigned: bool = True
    due_soon: bool = True
    overdue: bool = True
    comment: bool = True
    membership: bool = True


class Preferences(BaseModel):
    email: EmailPreferences


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _optional() -> Any:
    """May be omitted, but when present must be a boolean (``null`` is refused: the default
    is not validated, an explicit value is)."""
    return Field(default=None, json_schema_extra=_drop_default)


class EmailPreferencesUpdate(BaseModel):
    """Each switch a JSON boolean (no strings or numbers, no null). An omitted switch keeps
    its current value."""

    model_config = ConfigDict(extra="forbid")

    task_assigned: StrictBool = _optional()
    due_soon: StrictBool = _optional()
    overdue: StrictBool = _optional()
    comment: StrictBool = _optional()
    membership: StrictBool = _optional()


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"email": {"task_assigned": True, "due_soon": True, "overdue": True,
                   "comment": False, "membership": True}}]})

    email: EmailPreferencesUpdate
