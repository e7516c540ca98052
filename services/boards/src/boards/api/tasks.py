"""/api/v1/tasks"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from chassis.errors import Unprocessable
from chassis.pagination import Page, Paging
from chassis.validation import single_line
from fastapi import APIRouter, Header, Query, Response, status
from pydantic import AfterValidator

from boards import models
from boards.api import errors
from boards.deps import CurrentCaller, DbSession, EditableTask, ReadableTask, load_with_role
from boards.domain.roles import EDITOR, VIEWER
from boards.schemas import InstantIn, Task, TaskCreate, TaskMove, TaskUpdate
from boards.service import tasks as rules

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

IfMatch = Annotated[str | None, Header(description='The task\'s ETag (`"<version>"`); if it '
                                       "no longer matches: 412 and nothing changes")]
_ETAG = {"ETag": {"description": 'The task\'s version, e.g. `"3"`', "schema": {"type": "string"}}}


def etag(version: int) -> str:
    return f'"{version}"'


def expected_versions(if_match: str | None) -> rules.Expected:
    """The versions ``If-Match`` accepts: None (any) when it is absent or ``*``; otherwise
    those of its entity tags (weak or strong) that are versions."""
    if if_match is None:
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags:
        return None
    tags = [tag.removeprefix("W/").strip('"') for tag in tags]
    return {int(tag) for tag in tags if tag.isascii() and tag.isdigit() and tag == str(int(tag))}


@contextmanager
def _etag_on_conflict() -> Iterator[None]:
    """A 412 names the task's current version in its ``ETag`` header."""
    try:
        yield
    except rules.VersionConflict as conflict:
        conflict.headers["ETag"] = etag(conflict.version)
        raise


def task_response(row: object, status_code: int = status.HTTP_200_OK) -> Response:
    """The task as JSON with its ETag. Serialized here, once: FastAPI returns a Response as
    it is, where a returned model would be validated and encoded again."""
    task = Task.model_validate(row)
    return Response(task.model_dump_json(), status_code=status_code,
                    media_type="application/json", headers={"ETag": etag(task.version)})


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Task,
             responses={**errors(403, 404, 409, 422), 201: {"headers": _ETAG}})
async def create_task(body: TaskCreate, caller: CurrentCaller, session: DbSession) -> Response:
    """Create a task at the end of the list (409 at the list's WIP limit). The assignee must
    have a role in the project (422)."""
    target = await load_with_role(session, caller, models.lists, body.list_id, "List", EDITOR)
    row = await rules.create_task(session, caller, target.row, title=body.title,
                                  description=body.description, assignee_id=body.assignee_id,
                                  due_at=body.due_at, priority=body.priority,
                                  labels=body.labels)
    return task_response(row, status.HTTP_201_CREATED)


@router.get("", response_model=Page[Task], responses=errors(404, 422))
async def list_tasks(
    caller: CurrentCaller, session: DbSession, paging: Paging,
    board_id: Annotated[uuid.UUID | None, Query()] = None,
    list_id: Annotated[uuid.UUID | None, Query(description="With list_id the tasks come in "
                                               "list order, otherwise oldest first")] = None,
    assignee_id: Annotated[str | None, Query(description='A user id, or "me"')] = None,
    due_before: Annotated[InstantIn | None, Query(description="Tasks due strictly before "
                                                  "this RFC 3339 time (with offset)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Case-insensitive text in "
                                   "the title or description"),
                 AfterValidator(single_line)] = None,
) -> Page[Task]:
    """Tasks matching every filter given. Without board_id and list_id: the tasks of every
    project the caller has a role in (e.g. ``?assignee_id=me``)."""
    if board_id is not None:
        await load_with_role(session, caller, models.boards, board_id, "Board", VIEWER)
    if list_id is not None:
        await load_with_role(session, caller, models.lists, list_id, "List", VIEWER)
    assignee: uuid.UUID | None = None
    if assignee_id == "me":
        assignee = caller.user_id
    elif assignee_id is not None:
        try:
            assignee = uuid.UUID(assignee_id)
        except ValueError as exc:
            raise Unprocessable('assignee_id must be a user id or "me"',
                                loc=["query", "assignee_id"]) from exc
    rows, cursor = await rules.list_tasks(session, caller, board_id=board_id, list_id=list_id,
                                          assignee_id=assignee, due_before=due_before, q=q,
                                          paging=paging)
    return Page[Task](items=[Task.model_validate(row) for row in rows], next_cursor=cursor)


@router.get("/{task_id}", response_model=Task,
            responses={**errors(404), 200: {"headers": _ETAG}})
async def get_task(task: ReadableTask) -> Response:
    return task_response(task.row)


@router.patch("/{task_id}", response_model=Task,
              responses={**errors(403, 404, 412, 422), 200: {"headers": _ETAG}})
async def update_task(body: TaskUpdate, task: EditableTask, caller: CurrentCaller,
                      session: DbSession, if_match: IfMatch = None) -> Response:
    """Change the fields given (``assignee_id`` / ``due_at`` null to clear). A PATCH that
    changes nothing keeps the version; any real change increments it."""
    with _etag_on_conflict():
        row = await rules.update_task(session, caller, task.row, body.changes(),
                                      expected_versions(if_match))
    return task_response(row)


@router.post("/{task_id}/move", response_model=Task,
             responses={**errors(403, 404, 409, 412, 422), 200: {"headers": _ETAG}})
async def move_task(body: TaskMove, task: EditableTask, caller: CurrentCaller,
                    session: DbSession, if_match: IfMatch = None) -> Response:
    """Move to a list of the same project: before ``before_id``, after ``after_id`` (both:
    they must be neighbours), or at the end. 409 if another list is at its WIP limit."""
    # A list the caller cannot see is 404; one of another project of theirs is 422.
    target = await load_with_role(session, caller, models.lists, body.list_id, "List", VIEWER)
    with _etag_on_conflict():
        row = await rules.move_task(session, caller, task.row, target.row,
                                    before_id=body.before_id, after_id=body.after_id,
                                    expected=expected_versions(if_match))
    return task_response(row)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(403, 404, 412))
async def delete_task(task: EditableTask, caller: CurrentCaller, session: DbSession,
                      if_match: IfMatch = None) -> Response:
    with _etag_on_conflict():
        await rules.delete_task(session, caller, task.row, expected_versions(if_match))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
