"""FastAPI dependencies of the notifier API: the caller, the session, and the notification id
of the path (a malformed id is a 404, like an unknown one)."""

from __future__ import annotations

import uuid
from typing import Annotated

from chassis.auth import CurrentUserId
from chassis.http import DbSession
from chassis.validation import path_id
from fastapi import Depends, Path

from notifier.service.inbox import NOT_FOUND

__all__ = ["CurrentUserId", "DbSession", "NotificationId"]


def _notification_id(
    id: Annotated[str, Path(description="Notification id (UUID)")],  # noqa: A002
) -> uuid.UUID:
    return path_id(id, NOT_FOUND)


NotificationId = Annotated[uuid.UUID, Depends(_notification_id)]
