"""/api/v1/lists"""

from __future__ import annotations

import uuid
from typing import Annotated

from chassis.pagination import Page, Paging
from fastapi import APIRouter, Query, Response, status

from boards import models
from boards.api import errors
from boards.deps import CurrentCaller, DbSession, EditableList, load_with_role
from boards.domain.roles import EDITOR, VIEWER
from boards.schemas import BoardList, ListCreate, ListMove, ListUpdate
from boards.service import lists as rules

router = APIRouter(prefix="/api/v1/lists", tags=["lists"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=BoardList,
             responses=errors(403, 404, 422))
async def create_list(body: ListCreate, caller: CurrentCaller, session: DbSession) -> BoardList:
    """Append a list at the end of the board."""
    board = await load_with_role(session, caller, models.boards, body.board_id, "Board", EDITOR)
    row = await rules.create_list(session, caller, board.row, name=body.name,
                                  wip_limit=body.wip_limit)
    return BoardList.model_validate(row)


@router.get("", response_model=Page[BoardList], responses=errors(404, 422))
async def list_lists(board_id: Annotated[uuid.UUID, Query(description="Required")],
                     caller: CurrentCaller, session: DbSession,
                     paging: Paging) -> Page[BoardList]:
    """The board's lists in board order."""
    await load_with_role(session, caller, models.boards, board_id, "Board", VIEWER)
    rows, cursor = await rules.list_lists(session, board_id, paging)
    return Page[BoardList](items=[BoardList.model_validate(row) for row in rows],
                           next_cursor=cursor)


@router.patch("/{list_id}", response_model=BoardList, responses=errors(403, 404, 422))
async def update_list(body: ListUpdate, target: EditableList, caller: CurrentCaller,
                      session: DbSession) -> BoardList:
    """Rename and/or change the WIP limit (null removes it). A lower limit than the tasks
    the list holds is allowed: it only stops new tasks from coming in."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return BoardList.model_validate(await rules.update_list(session, caller, target.row,
                                                            changes))


@router.post("/{list_id}/move", response_model=BoardList, responses=errors(403, 404, 422))
async def move_list(body: ListMove, target: EditableList, caller: CurrentCaller,
                    session: DbSession) -> BoardList:
    """Put the list immediately before ``before_id`` or after ``after_id`` (exactly one, a
    list of the same board)."""
    row = await rules.move_list(session, caller, target.row, before_id=body.before_id,
                                after_id=body.after_id)
    return BoardList.model_validate(row)


@router.delete("/{list_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=errors(403, 404))
async def delete_list(target: EditableList, caller: CurrentCaller,
                      session: DbSession) -> Response:
    """Delete the list and its tasks."""
    await rules.delete_list(session, caller, target.row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
