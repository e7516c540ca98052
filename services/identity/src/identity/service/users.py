"""The signed-in user's own account: profile and password."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from chassis.db import Lock, get_row
from chassis.errors import Unauthorized, Unprocessable
from chassis.logging import get_logger
from contracts.events import UserUpdated
from sqlalchemy.ext.asyncio import AsyncSession

from identity.db import publisher
from identity.models import users
from identity.service.auth import now_utc, revoke_all_refresh_tokens
from identity.service.passwords import Passwords

log = get_logger(__name__)


async def get_user(session: AsyncSession, user_id: uuid.UUID, *,
                   lock: Lock | None = None) -> sa.Row[Any]:
    # No row: a valid token for an account that no longer exists.
    return await get_row(session, users, user_id, lock=lock, missing=Unauthorized(
        "The account of this access token does not exist"))


async def update_profile(session: AsyncSession, user_id: uuid.UUID, *,
                         full_name: str) -> sa.Row[Any]:
    """Change the display name; ``user.updated`` is emitted only when something changed."""
    current = await get_user(session, user_id, lock="update")
    if current.full_name == full_name:
        return current
    row: sa.Row[Any] = (await session.execute(
        users.update().where(users.c.id == user_id)
        .values(full_name=full_name, updated_at=sa.func.now())
        .returning(users))).one()
    await publisher.publish(session, "user.updated", UserUpdated(
        user_id=user_id, email=row.email, full_name=row.full_name), actor_id=user_id)
    log.info("user_updated", user_id=str(user_id))
    return row


async def change_password(session: AsyncSession, passwords: Passwords, user_id: uuid.UUID, *,
                          current_password: str, new_password: str) -> None:
    """Replace the password and revoke every refresh token of the user (all sessions must
    log in again). Access tokens already issued stay valid until they expire."""
    user = await get_user(session, user_id, lock="update")
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
