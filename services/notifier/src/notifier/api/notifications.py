"""``/api/v1/notifications``: the caller's in-app notifications and e-mail preferences."""

from __future__ import annotations

from typing import Annotated, Any

from chassis.pagination import Page, Paging
from fastapi import APIRouter, Query, Response

from notifier.deps import CurrentUserId, DbSession, NotificationId
from notifier.schemas import (
    EmailPreferences,
    Notification,
    Preferences,
    PreferencesUpdate,
    UnreadCount,
)
from notifier.service import inbox
from notifier.service.preferences import email_preferences, update_email_preferences

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid access token"}}


@router.get("", response_model=Page[Notification], responses=PROBLEMS,
            summary="My notifications, newest first")
async def list_notifications(
    session: DbSession, me: CurrentUserId, paging: Paging,
    unread: Annotated[bool | None, Query(
        description="true: only unread ones; false: only read ones; omitted: all")] = None,
) -> Page[Notification]:
    items, next_cursor = await inbox.list_notifications(session, me, paging, unread=unread)
    return Page[Notification](items=[Notification(**item) for item in items],
                              next_cursor=next_cursor)


@router.get("/unread-count", response_model=UnreadCount, responses=PROBLEMS,
            summary="How many of my notifications are unread")
async def unread_count(session: DbSession, me: CurrentUserId) -> UnreadCount:
    return UnreadCount(count=await inbox.unread_count(session, me))


@router.post("/read-all", status_code=204, response_class=Response, responses=PROBLEMS,
             summary="Mark all my notifications read")
async def read_all(session: DbSession, me: CurrentUserId) -> Response:
    await inbox.mark_all_read(session, me)
    return Response(status_code=204)


@router.post("/{id}/read", status_code=204, response_class=Response,
             responses={**PROBLEMS, 404: {"description": "Not one of my notifications"}},
             summary="Mark one notification read (idempotent)")
async def read_one(session: DbSession, me: CurrentUserId,
                   notification_id: NotificationId) -> Response:
    await inbox.mark_read(session, me, notification_id)
    return Response(status_code=204)


@router.get("/preferences", response_model=Preferences, responses=PROBLEMS,
            summary="My e-mail preferences (in-app notifications are always made)")
async def get_preferences(session: DbSession, me: CurrentUserId) -> Preferences:
    return Preferences(email=EmailPreferences(**await email_preferences(session, me)))


@router.put("/preferences", response_model=Preferences,
            responses={**PROBLEMS, 422: {"description": "Unknown key or a non-boolean value"}},
            summary="Set my e-mail preferences (omitted switches keep their value)")
async def put_preferences(body: PreferencesUpdate, session: DbSession,
                          me: CurrentUserId) -> Preferences:
    changes = body.email.model_dump(exclude_unset=True)
    return Preferences(email=EmailPreferences(
        **await update_email_preferences(session, me, changes)))
