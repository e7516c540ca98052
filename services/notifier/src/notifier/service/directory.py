"""The notifier's copy of identity's user directory (e-mail address and name).

Fed by ``user.registered`` / ``user.updated`` and by the e-mail and name that
``team.member_added`` / ``project.member_added`` carry. Every write carries ``as_of`` (the
event's ``occurred_at``) and never replaces a newer copy, so events redelivered out of order
cannot roll an address back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import users


@dataclass(frozen=True)
class DirectoryUser:
    user_id: uuid.UUID
    email: str
    full_name: str


async def upsert_user(session: AsyncSession, *, user_id: uuid.UUID, email: str,
                      full_name: str, as_of: datetime) -> None:
    statement = insert(users).values(user_id=user_id, email=email.strip().lower(),
                                     full_name=full_name, as_of=as_of)
    statement = statement.on_conflict_do_update(
        index_elements=[users.c.user_id],
        set_={"email": statement.excluded.email, "full_name": statement.excluded.full_name,
              "as_of": statement.excluded.as_of},
        where=users.c.as_of < statement.excluded.as_of)
    await session.execute(statement)


async def get_user(session: AsyncSession, user_id: uuid.UUID | None) -> DirectoryUser | None:
    if user_id is None:
        return None
    row = (await session.execute(sa.select(users).where(users.c.user_id == user_id))).first()
    return DirectoryUser(row.user_id, row.email, row.full_name) if row else None


async def display_name(session: AsyncSession, user_id: uuid.UUID | None) -> str:
    """The user's name for a sentence ("Ada assigned you..."); "Someone" if unknown."""
    user = await get_user(session, user_id)
    return user.full_name if user and user.full_name else "Someone"
