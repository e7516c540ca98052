"""The signed-in user's own account: profile and password."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from chassis.errors import Unauthorized, Unprocessable
from chassis.http import current_request_id
from chassis.logging import get_logger
from chassis.outbox import add_event
from contracts.events import UserUpdated, make_event
from contracts.streams import IDENTITY_EVENTS
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import outbox, users
from identity.service.auth import PRODUCER, now_utc, revoke_all_refresh_tokens
from identity.service.passwords import Passwords

log = get_logger(__name__)


async def get_user(session: AsyncSession, user_id: uuid.UUID, *,
                   for_update: bool = False) -> sa.Row[Any]:
    query = sa.select(users).where(users.c.id == user_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        # A valid token for an account that no longer exists.
        raise Unauthorized("The account of this access token does not exist")
    return row


async def update_profile(session: AsyncSession, user_id: uuid.UUID, *,
                         full_name: str) -> sa.Row[Any]:
    """Change the display name; ``user.updated`` is emitted only when something changed."""
    current = await get_user(session, user_id, for_update=True)
    if current.full_name == full_name:
        return current
    row = (await session.execute(
        users.update().where(users.c.id == user_id)
        .values(full_name=full_name, updated_at=sa.func.now())
        .returning(users))).one()
    await add_event(session, outbox, IDENTITY_EVENTS, make_event(
        "user.updated", UserUpdated(user_id=user_id, email=row.email, full_name=row.full_name),
        producer=PRODUCER, actor_id=user_id, correlation_id=current_request_id()))
    log.info("user_updated", user_id=str(user_id))
    return row


async def change_password(session: AsyncSession, passwords: Passwords, user_id: uuid.UUID, *,
                          current_password: str, new_password: str) -> None:
    """Replace the password and revoke every refresh token of the user (all sessions must
    log in again). Access tokens already issued stay valid until they expire."""
    user = await get_user(session, user_id, for_update=True)
    valid, _ = await passwords.verify(current_password, user.password_hash)
    if not valid:
        raise Unprocessable("The current password is incorrect",
                            loc=["body", "current_password"])
    new_hash = await passwords.hash(new_password)
    await session.execute(users.update().where(users.c.id == user_id)
                          .values(password_hash=new_hash, password_changed_at=now_utc(),
                                  updated_at=sa.func.now()))
    await revoke_all_refresh_tokens(session, user_id)
    log.info("password_changed", user_id=str(user_id))
