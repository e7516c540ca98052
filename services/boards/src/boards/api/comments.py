"""/api/v1/comments"""

from __future__ import annotations

import uuid
from typing import Annotated

from chassis.pagination import Page, Paging
from fastapi import APIRouter, Query, Response, status

from boards import models
from boards.api import errors
from boards.deps import (
    CurrentCaller,
    DbSession,
    DeletableComment,
    EditableComment,
    load_with_role,
)
from boards.domain.roles import VIEWER
from boards.schemas import Comment, CommentCreate, CommentUpdate
from boards.service import comments as rules

router = APIRouter(prefix="/api/v1/comments", tags=["comments"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Comment,
             responses=errors(404, 422))
async def create_comment(body: CommentCreate, caller: CurrentCaller,
                         session: DbSession) -> Comment:
    """Comment on a task (any project role, viewers included)."""
    task = await load_with_role(session, caller, models.tasks, body.task_id, "Task", VIEWER)
    return Comment.model_validate(await rules.create_comment(session, caller, task.row,
                                                             body.body))


@router.get("", response_model=Page[Comment], responses=errors(404, 422))
async def list_comments(task_id: Annotated[uuid.UUID, Query(description="Required")],
                        caller: CurrentCaller, session: DbSession,
                        paging: Paging) -> Page[Comment]:
    """The task's comments, oldest first."""
    await load_with_role(session, caller, models.tasks, task_id, "Task", VIEWER)
    rows, cursor = await rules.list_comments(session, task_id, paging)
    return Page[Comment](items=[Comment.model_validate(row) for row in rows],
                         next_cursor=cursor)


@router.patch("/{comment_id}", response_model=Comment, responses=errors(403, 404, 422))
async def edit_comment(body: CommentUpdate, comment: EditableComment, caller: CurrentCaller,
                       session: DbSession) -> Comment:
    """Only the author may edit (403 for anyone else who can see it)."""
    return Comment.model_validate(await rules.edit_comment(session, caller, comment.row,
                                                           body.body))


@router.delete("/{comment_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response, responses=errors(403, 404))
async def delete_comment(comment: DeletableComment, caller: CurrentCaller,
                         session: DbSession) -> Response:
    """The author or a project admin."""
    await rules.delete_comment(session, caller, comment.row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
