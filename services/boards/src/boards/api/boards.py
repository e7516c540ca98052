"""/api/v1/boards"""

from __future__ import annotations

import uuid
from typing import Annotated

from chassis.pagination import Page, Paging
from fastapi import APIRouter, Query, Response, status

from boards.api import errors
from boards.deps import CurrentCaller, DbSession, EditableBoard, ReadableBoard
from boards.domain.roles import EDITOR, VIEWER
from boards.schemas import Board, BoardCreate, BoardDetail, BoardUpdate
from boards.service import boards as rules
from boards.service.access import require_role

router = APIRouter(prefix="/api/v1/boards", tags=["boards"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Board,
             responses=errors(403, 404, 422))
async def create_board(body: BoardCreate, caller: CurrentCaller, session: DbSession) -> Board:
    """Create a board in a project (editor or admin)."""
    await require_role(session, caller, body.project_id, EDITOR, what="Project")
    row = await rules.create_board(session, caller, body.project_id, body.name)
    return Board.model_validate(row)


@router.get("", response_model=Page[Board], responses=errors(404, 422))
async def list_boards(project_id: Annotated[uuid.UUID, Query(description="Required")],
                      caller: CurrentCaller, session: DbSession, paging: Paging) -> Page[Board]:
    """The project's boards, oldest first."""
    await require_role(session, caller, project_id, VIEWER, what="Project")
    rows, cursor = await rules.list_boards(session, project_id, paging)
    return Page[Board](items=[Board.model_validate(row) for row in rows], next_cursor=cursor)


@router.get("/{board_id}", response_model=BoardDetail, responses=errors(404))
async def get_board(board: ReadableBoard, session: DbSession) -> Response:
    """The board with its lists in order, each with its tasks in order."""
    # The lists and tasks come as JSON built by PostgreSQL (rules.lists_json): no per-task
    # Python work.
    head = Board.model_validate(board.row).model_dump_json()
    lists = await rules.lists_json(session, board.row.id)
    return Response(head[:-1] + ',"lists":' + lists + "}", media_type="application/json")


@router.patch("/{board_id}", response_model=Board, responses=errors(403, 404, 422))
async def rename_board(body: BoardUpdate, board: EditableBoard, caller: CurrentCaller,
                       session: DbSession) -> Board:
    return Board.model_validate(await rules.rename_board(session, caller, board.row, body.name))


@router.delete("/{board_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(403, 404))
async def delete_board(board: EditableBoard, caller: CurrentCaller,
                       session: DbSession) -> Response:
    """Delete the board with its lists, tasks and comments."""
    await rules.delete_board(session, caller, board.row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
