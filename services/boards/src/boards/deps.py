"""FastAPI dependencies: the session, the caller, and "the board / list / task / comment I
may read or edit" (loads the row, checks the caller's project role, raises 404 or 403 once).

Path ids are taken as strings so a malformed id is a 404 like an unknown one."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

from chassis.auth import CurrentUserId
from chassis.errors import NotFound
from chassis.http import DbSession, current_request_id
from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from boards.config import BoardsSettings
from boards.service.access import EDITOR, VIEWER, Caller, Role, Workspace, require_role
from boards.service.boards import get_board
from boards.service.comments import get_comment
from boards.service.tasks import get_list, get_task

__all__ = ["Access", "CommentAccess", "CurrentCaller", "DbSession", "EditableBoard",
           "EditableList", "EditableTask", "ReadableBoard", "ReadableList", "ReadableTask",
           "Settings"]


def _settings(request: Request) -> BoardsSettings:
    return cast(BoardsSettings, request.app.state.settings)


Settings = Annotated[BoardsSettings, Depends(_settings)]


async def _caller(request: Request, user_id: CurrentUserId) -> Caller:
    workspace = cast(Workspace, request.app.state.workspace)
    return Caller(user_id=user_id, authorization=request.headers.get("authorization"),
                  workspace=workspace, request_id=current_request_id())


CurrentCaller = Annotated[Caller, Depends(_caller)]


def path_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound(f"{what} not found") from exc


@dataclass(frozen=True)
class Access:
    """A loaded row and the caller's role in its project."""

    row: Any
    role: Role


Loader = Callable[[AsyncSession, uuid.UUID], Awaitable[Any]]


async def load_with_role(session: AsyncSession, caller: Caller, loader: Loader,
                         item_id: uuid.UUID, what: str, minimum: Role) -> Access:
    """Load by id and require ``minimum`` in its project (404 invisible, 403 too low)."""
    row = await loader(session, item_id)
    role = await require_role(session, caller, row.project_id, minimum, what=what)
    return Access(row=row, role=cast(Role, role))


async def _get_board(session: AsyncSession, item_id: uuid.UUID) -> Any:
    return await get_board(session, item_id)


async def _get_list(session: AsyncSession, item_id: uuid.UUID) -> Any:
    return await get_list(session, item_id)


async def _get_task(session: AsyncSession, item_id: uuid.UUID) -> Any:
    return await get_task(session, item_id)


async def _get_comment(session: AsyncSession, item_id: uuid.UUID) -> Any:
    return await get_comment(session, item_id)


_ID = {"format": "uuid"}


def _board(minimum: Role) -> Callable[..., Awaitable[Access]]:
    async def dependency(board_id: Annotated[str, Path(json_schema_extra=_ID)],
                         session: DbSession, caller: CurrentCaller) -> Access:
        return await load_with_role(session, caller, _get_board, path_id(board_id, "Board"),
                                    "Board", minimum)
    return dependency


def _list(minimum: Role) -> Callable[..., Awaitable[Access]]:
    async def dependency(list_id: Annotated[str, Path(json_schema_extra=_ID)],
                         session: DbSession, caller: CurrentCaller) -> Access:
        return await load_with_role(session, caller, _get_list, path_id(list_id, "List"),
                                    "List", minimum)
    return dependency


def _task(minimum: Role) -> Callable[..., Awaitable[Access]]:
    async def dependency(task_id: Annotated[str, Path(json_schema_extra=_ID)],
                         session: DbSession, caller: CurrentCaller) -> Access:
        return await load_with_role(session, caller, _get_task, path_id(task_id, "Task"),
                                    "Task", minimum)
    return dependency


async def _comment(comment_id: Annotated[str, Path(json_schema_extra=_ID)],
                   session: DbSession, caller: CurrentCaller) -> Access:
    # Anyone who can see the comment gets this far; edit/delete rules are in the service.
    return await load_with_role(session, caller, _get_comment,
                                path_id(comment_id, "Comment"), "Comment", VIEWER)


ReadableBoard = Annotated[Access, Depends(_board(VIEWER))]
EditableBoard = Annotated[Access, Depends(_board(EDITOR))]
ReadableList = Annotated[Access, Depends(_list(VIEWER))]
EditableList = Annotated[Access, Depends(_list(EDITOR))]
ReadableTask = Annotated[Access, Depends(_task(VIEWER))]
EditableTask = Annotated[Access, Depends(_task(EDITOR))]
CommentAccess = Annotated[Access, Depends(_comment)]
