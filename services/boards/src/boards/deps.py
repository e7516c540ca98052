"""FastAPI dependencies: the session, the caller, and "the board / list / task / comment I
may read or edit".

Authorization lives in the API layer (here and in the routers), never in the service layer:
a dependency loads the row named in the path, checks the caller's project role and raises 404
(invisible) or 403 (role too low) once. Path ids are taken as strings so a malformed id is a
404 like an unknown one.

No ``from __future__ import annotations`` here: FastAPI reads the dependencies' annotations,
and the path parameter of :func:`_in_path` is named by the factory's argument, which only an
annotation evaluated at definition time can see."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

import sqlalchemy as sa
from chassis.auth import CurrentUserId
from chassis.errors import Forbidden
from chassis.http import DbSession
from chassis.validation import path_id
from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from boards import models
from boards.domain.roles import ADMIN, EDITOR, VIEWER, Role
from boards.service.access import Caller, require_role, row_with_role
from boards.service.workspace_client import WorkspaceClient

__all__ = ["Access", "CurrentCaller", "DbSession", "DeletableComment", "EditableBoard",
           "EditableComment", "EditableList", "EditableTask", "ReadableBoard", "ReadableList",
           "ReadableTask", "load_with_role"]


async def _caller(request: Request, user_id: CurrentUserId) -> Caller:
    workspace = cast(WorkspaceClient, request.app.state.workspace)
    return Caller(user_id=user_id, authorization=request.headers.get("authorization"),
                  workspace=workspace)


CurrentCaller = Annotated[Caller, Depends(_caller)]


@dataclass(frozen=True)
class Access:
    """A loaded row and the caller's role in its project."""

    row: Any
    role: Role


async def load_with_role(session: AsyncSession, caller: Caller, table: sa.Table,
                         item_id: uuid.UUID, what: str, minimum: Role) -> Access:
    """The row of ``table`` by id, and ``minimum`` required in its project (404 invisible,
    403 too low). One query answers both when the caller's role is in the read model."""
    row = await row_with_role(session, caller, table, item_id, what=what)
    role = await require_role(session, caller, row.project_id, minimum, what=what)
    return Access(row=row, role=cast(Role, role))


def _in_path(name: str, what: str, table: sa.Table,
             minimum: Role) -> Callable[..., Awaitable[Access]]:
    """The dependency giving the ``what`` whose id is the path parameter ``name``, to a caller
    with at least ``minimum`` in its project."""
    async def dependency(item_id: Annotated[str, Path(alias=name,
                                                      json_schema_extra={"format": "uuid"})],
                         session: DbSession, caller: CurrentCaller) -> Access:
        return await load_with_role(session, caller, table,
                                    path_id(item_id, f"{what} not found"), what, minimum)
    return dependency


ReadableBoard = Annotated[Access, Depends(_in_path("board_id", "Board", models.boards, VIEWER))]
EditableBoard = Annotated[Access, Depends(_in_path("board_id", "Board", models.boards, EDITOR))]
ReadableList = Annotated[Access, Depends(_in_path("list_id", "List", models.lists, VIEWER))]
EditableList = Annotated[Access, Depends(_in_path("list_id", "List", models.lists, EDITOR))]
ReadableTask = Annotated[Access, Depends(_in_path("task_id", "Task", models.tasks, VIEWER))]
EditableTask = Annotated[Access, Depends(_in_path("task_id", "Task", models.tasks, EDITOR))]
# Anyone who can see a comment may ask; who may change it depends on the comment.
_VisibleComment = Annotated[Access, Depends(_in_path("comment_id", "Comment", models.comments,
                                                     VIEWER))]


async def _editable_comment(comment: _VisibleComment, caller: CurrentCaller) -> Access:
    if comment.row.author_id != caller.user_id:
        raise Forbidden("Only the author may edit a comment")
    return comment


async def _deletable_comment(comment: _VisibleComment, caller: CurrentCaller) -> Access:
    if comment.row.author_id != caller.user_id and comment.role != ADMIN:
        raise Forbidden("Only the author or a project admin may delete a comment")
    return comment


EditableComment = Annotated[Access, Depends(_editable_comment)]
DeletableComment = Annotated[Access, Depends(_deletable_comment)]
