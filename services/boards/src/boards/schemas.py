"""Request and response bodies: the API contract. Requests forbid unknown fields (422)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from chassis.validation import multi_line, single_line
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

# RFC 3339 date-time: date, "T" (or a space, which RFC 3339 allows), time, optional fraction,
# and a required offset ("Z" or +hh:mm). pydantic alone would also take Unix timestamps and
# ISO 8601 forms such as +0100.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):   # already parsed (e.g. built in code, not from JSON)
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, "
                         "e.g. 2030-01-31T17:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:30+01:00 has no UTC equivalent
        raise ValueError("time is out of range once converted to UTC") from exc


# Surrounding whitespace is dropped, so blank or whitespace-only names are too short (422).
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 AfterValidator(single_line)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                  AfterValidator(single_line)]
Description = Annotated[str, Field(max_length=10_000), AfterValidator(multi_line)]
CommentBody = Annotated[str, Field(min_length=1, max_length=10_000), AfterValidator(multi_line),
                        AfterValidator(_not_blank)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
                  AfterValidator(single_line)]
Labels = Annotated[list[Label], Field(max_length=20, description="At most 20 labels of 1-50 "
                                      "characters; duplicates are dropped, order is kept")]
WipLimit = Annotated[StrictInt, Field(ge=1, le=2_147_483_647,
                                description="Most tasks the list may hold; null = no limit. "
                                "Checked when a task is created in the list or moved in from "
                                "another list.")]
Priority = Literal["low", "medium", "high", "urgent"]
ProjectRole = Literal["admin", "editor", "viewer"]
# Requests: RFC 3339 with an offset (naive times, numbers -> 422); stored in UTC.
InstantIn = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_utc)]
# Responses: RFC 3339 UTC with ``Z`` (pydantic writes ``Z`` for UTC by itself, so this costs
# one conversion at validation and nothing per value when serialising).
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]


def _unique(labels: list[str]) -> list[str]:
    return list(dict.fromkeys(labels))


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- boards ---------------------------------------------------------------------------------


class BoardCreate(RequestBody):
    project_id: uuid.UUID
    name: Name


class BoardUpdate(RequestBody):
    name: Name


class Board(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    created_at: UtcDateTime


# --- lists ----------------------------------------------------------------------------------


class ListCreate(RequestBody):
    board_id: uuid.UUID
    name: Name
    wip_limit: WipLimit | None = None


class ListUpdate(RequestBody):
    name: Name | None = Field(default=None, description="Omit to keep; null is not allowed")
    wip_limit: WipLimit | None = Field(default=None, description="Omit to keep; null removes "
                                       "the limit")

    @model_validator(mode="after")
    def _name_not_null(self) -> ListUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name may not be null")
        return self


class ListMove(RequestBody):
    before_id: uuid.UUID | None = Field(default=None, description="Put the list immediately "
                                        "before this list")
    after_id: uuid.UUID | None = Field(default=None, description="Put the list immediately "
                                       "after this list")

    @model_validator(mode="after")
    def _exactly_one(self) -> ListMove:
        if (self.before_id is None) == (self.after_id is None):
            raise ValueError("give exactly one of before_id and after_id")
        return self


class BoardList(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    board_id: uuid.UUID
    name: str
    position: str = Field(description="Opaque; sorting lists by it (byte-wise) gives board "
                          "order")
    wip_limit: int | None


# --- tasks ----------------------------------------------------------------------------------


class TaskCreate(RequestBody):
    list_id: uuid.UUID
    title: Title
    description: Description = ""
    assignee_id: uuid.UUID | None = Field(default=None, description="Must have a role in the "
                                          "project (else 422)")
    due_at: InstantIn | None = None
    priority: Priority = "medium"
    labels: Labels = Field(default_factory=list)

    @model_validator(mode="after")
    def _dedupe(self) -> TaskCreate:
        self.labels = _unique(self.labels)
        return self


class TaskUpdate(RequestBody):
    """Only the fields given change; ``assignee_id`` and ``due_at`` may be null to clear."""

    title: Title | None = None
    description: Description | None = None
    assignee_id: uuid.UUID | None = None
    due_at: InstantIn | None = None
    priority: Priority | None = None
    labels: Labels | None = None

    @model_validator(mode="after")
    def _check(self) -> TaskUpdate:
        for name in ("title", "description", "priority", "labels"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        if self.labels is not None:
            self.labels = _unique(self.labels)
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class TaskMove(RequestBody):
    list_id: uuid.UUID = Field(description="Target list, on a board of the same project")
    before_id: uuid.UUID | None = Field(default=None, description="Put the task immediately "
                                        "before this task of the target list")
    after_id: uuid.UUID | None = Field(default=None, description="Put the task immediately "
                                       "after this task of the target list; with before_id "
                                       "both must be neighbours. Neither: end of the list.")


class Task(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    board_id: uuid.UUID
    list_id: uuid.UUID
    title: str
    description: str
    assignee_id: uuid.UUID | None
    due_at: UtcDateTime | None
    priority: Priority
    labels: list[str]
    position: str = Field(description="Opaque; sorting tasks by it (byte-wise) gives list "
                          "order")
    created_by: uuid.UUID
    created_at: UtcDateTime
    updated_at: UtcDateTime
    version: int = Field(description="Incremented by every real change or move; also the "
                         "ETag")


class ListWithTasks(BoardList):
    tasks: list[Task]


class BoardDetail(Board):
    lists: list[ListWithTasks] = Field(description="In board order, each with its tasks in "
                                       "list order")


# --- comments -------------------------------------------------------------------------------


class CommentCreate(RequestBody):
    task_id: uuid.UUID
    body: CommentBody


class CommentUpdate(RequestBody):
    body: CommentBody


class Comment(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    task_id: uuid.UUID
    author_id: uuid.UUID
    body: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


# --- activity -------------------------------------------------------------------------------


class Activity(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    actor_id: uuid.UUID | None
    verb: str = Field(description="The type of the event that caused the entry, e.g. "
                      "task.moved")
    entity_type: Literal["board", "list", "task", "comment", "project_member"]
    entity_id: uuid.UUID
    summary: str = Field(description="One readable sentence")
    data: dict[str, Any]
    created_at: UtcDateTime
