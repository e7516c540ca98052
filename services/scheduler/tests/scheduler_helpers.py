"""Plain helpers of the scheduler tests, a module of the ``services.scheduler.tests`` package::

    from services.scheduler.tests.scheduler_helpers import ...
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.events import (
    BoardChanged,
    Envelope,
    ListChanged,
    ProjectDeleted,
    Reminder,
    TaskAssigned,
    TaskDueDateChanged,
    TaskSnapshot,
    TaskUnassigned,
    TaskUpdated,
    make_event,
    parse_event,
)


@dataclass
class Task:
    title: str = "Renew the certificate"
    assignee_id: uuid.UUID | None = field(default_factory=uuid.uuid4)
    due_at: datetime | None = None
    task_id: uuid.UUID = field(default_factory=uuid.uuid4)
    project_id: uuid.UUID = field(default_factory=uuid.uuid4)
    board_id: uuid.UUID = field(default_factory=uuid.uuid4)
    list_id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_by: uuid.UUID = field(default_factory=uuid.uuid4)
    version: int = 1

    def snapshot(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "project_id": self.project_id,
                "board_id": self.board_id, "list_id": self.list_id, "title": self.title,
                "assignee_id": self.assignee_id, "due_at": self.due_at,
                "created_by": self.created_by, "version": self.version}

    def _event(self, kind: str, model: type, **extra: Any) -> Envelope:
        return make_event(kind, model(**self.snapshot(), **extra), producer="boards",
                          actor_id=self.created_by)

    def created(self) -> Envelope:
        return self._event("task.created", TaskSnapshot)

    def set_due(self, due_at: datetime | None) -> Envelope:
        previous, self.due_at = self.due_at, due_at
        self.version += 1
        return self._event("task.due_date_changed", TaskDueDateChanged, previous_due_at=previous)

    def assign(self, assignee: uuid.UUID | None) -> Envelope:
        previous, self.assignee_id = self.assignee_id, assignee
        self.version += 1
        if assignee is None:
            return self._event("task.unassigned", TaskUnassigned,
                               previous_assignee_id=previous)
        return self._event("task.assigned", TaskAssigned, previous_assignee_id=previous)

    def rename(self, title: str) -> Envelope:
        self.title = title
        self.version += 1
        return self._event("task.updated", TaskUpdated, changed_fields=["title"])

    def deleted(self) -> Envelope:
        return self._event("task.deleted", TaskSnapshot)

    def list_deleted(self) -> Envelope:
        return make_event("list.deleted", ListChanged(
            list_id=self.list_id, board_id=self.board_id, project_id=self.project_id,
            name="Doing", position="m"), producer="boards")

    def board_deleted(self) -> Envelope:
        return make_event("board.deleted", BoardChanged(
            board_id=self.board_id, project_id=self.project_id, name="Main"),
            producer="boards")

    def project_deleted(self) -> Envelope:
        return make_event("project.deleted", ProjectDeleted(
            project_id=self.project_id, team_id=uuid.uuid4(), name="P"),
            producer="workspace")


def reminders(outbox_rows: list[dict], kind: str | None = None) -> list[dict]:
    """The envelopes in the outbox, optionally only ``reminder.<kind>``."""
    envelopes = [row["envelope"] for row in outbox_rows]
    return [e for e in envelopes if kind is None or e["type"] == f"reminder.{kind}"]


def reminder_payload(envelope: dict) -> Reminder:
    """The payload of a reminder envelope of the outbox, validated against contracts."""
    payload = parse_event(envelope).payload()
    assert isinstance(payload, Reminder), payload
    return payload
