"""The notifier's copy of identity's user directory (e-mail address and name).

Fed by ``user.registered`` / ``user.updated`` and by the e-mail and name that
``team.member_added`` / ``project.member_added`` carry. Every write carries ``as_of`` (the
event's ``occurred_at``) and applies only if it is newer than the stored copy
(:mod:`chassis.read_model`), so events redelivered out of order cannot roll an address back."""

from __future__ import annotations

import uuid

from chassis.read_model import UserDirectory
from sqlalchemy.ext.asyncio import AsyncSession

from notifier import models

directory = UserDirectory(models.users)


async def display_name(session: AsyncSession, user_id: uuid.UUID | None) -> str:
    """The user's name for a sentence ("Ada assigned you..."); "Someone" if unknown."""
    user = await directory.get(session, user_id)
    return user.full_name if user and user.full_name else "Someone"
