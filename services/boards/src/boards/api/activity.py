"""/api/v1/activity"""

from __future__ import annotations

import uuid
from typing import Annotated

from chassis.pagination import Page, Paging
from fastapi import APIRouter, Query

from boards.api import errors
from boards.deps import CurrentCaller, DbSession
from boards.domain.roles import VIEWER
from boards.schemas import Activity
from boards.service.access import require_role
from boards.service.activity import list_activity

router = APIRouter(prefix="/api/v1/activity", tags=["activity"])


@router.get("", response_model=Page[Activity], responses=errors(404, 422))
async def project_activity(project_id: Annotated[uuid.UUID, Query(description="Required")],
                           caller: CurrentCaller, session: DbSession,
                           paging: Paging) -> Page[Activity]:
    """Everything that happened in the project's boards, lists, tasks, comments and
    memberships, newest first. ``verb`` is the type of the event behind the entry."""
    await require_role(session, caller, project_id, VIEWER, what="Project")
    rows, cursor = await list_activity(session, project_id, paging)
    return Page[Activity](items=[Activity.model_validate(row) for row in rows],
                          next_cursor=cursor)
