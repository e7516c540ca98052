"""The user directory: workspace's read model of identity's users.

Fed by ``user.registered`` / ``user.updated`` (see ``workspace.events.consumer``) and, on a
miss, by a read-through to identity whose answer is upserted too. Every write carries
``as_of`` (the event's ``occurred_at``, or the time identity was asked) and applies only if
it is newer than the stored copy (:mod:`chassis.read_model`), so events redelivered out of
order cannot roll a name back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from chassis.errors import NotFound, ServiceUnavailable
from chassis.read_model import DirectoryUser, UserDirectory
from sqlalchemy.ext.asyncio import AsyncSession

from workspace.models import user_directory
from workspace.service.identity_client import IdentityClient

__all__ = ["DirectoryUser", "ensure_caller", "find_by_email", "user_or_placeholder", "users"]

users = UserDirectory(user_directory)


async def user_or_placeholder(session: AsyncSession, user_id: uuid.UUID) -> DirectoryUser:
    """For event payloads: the directory copy, or empty strings if (unexpectedly) missing."""
    return await users.get(session, user_id) or DirectoryUser(user_id, "", "")


async def find_by_email(session: AsyncSession, identity: IdentityClient, email: str, *,
                        authorization: str | None) -> DirectoryUser:
    """The user registered with ``email`` (case-insensitive); 404 if identity has none.

    A directory miss (the ``user.registered`` event may still be on its way) reads through
    to identity and stores the answer."""
    email = email.lower()
    row = (await session.execute(
        sa.select(user_directory).where(user_directory.c.email == email)
        .order_by(user_directory.c.as_of.desc()).limit(1))).first()
    if row is not None:
        return DirectoryUser(row.user_id, row.email, row.full_name)
    # Stamped with the time we asked: the answer is at least that fresh, so any later event
    # still replaces it.
    asked_at = datetime.now(UTC)
    found = await identity.user_by_email(email, authorization=authorization)
    if found is None:
        raise NotFound("No user is registered with this e-mail address")
    await users.upsert(session, found.id, email=found.email, full_name=found.full_name,
                       as_of=asked_at)
    return DirectoryUser(found.id, found.email, found.full_name)


async def ensure_caller(session: AsyncSession, identity: IdentityClient, user_id: uuid.UUID, *,
                        authorization: str | None) -> DirectoryUser:
    """The caller's own directory entry, read through to identity's ``/users/me`` on a miss
    (a user who creates a team right after registering)."""
    known = await users.get(session, user_id)
    if known is not None:
        return known
    asked_at = datetime.now(UTC)
    try:
        me = await identity.me(authorization=authorization)
    except ServiceUnavailable:
        me = None  # creating a team must not depend on identity being up
    if me is None or me.id != user_id:
        # Keep going with an empty copy; the user.registered event fills it in.
        return DirectoryUser(user_id, "", "")
    await users.upsert(session, me.id, email=me.email, full_name=me.full_name, as_of=asked_at)
    return DirectoryUser(me.id, me.email, me.full_name)
