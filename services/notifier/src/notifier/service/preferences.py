"""E-mail preferences per notification type; no row means every switch is on (the default).
In-app notifications are always made: preferences only decide about the e-mail."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.models import NOTIFICATION_TYPES, preferences

DEFAULTS: dict[str, bool] = dict.fromkeys(NOTIFICATION_TYPES, True)


async def email_preferences(session: AsyncSession, user_id: uuid.UUID) -> dict[str, bool]:
    row = (await session.execute(
        sa.select(preferences).where(preferences.c.user_id == user_id))).first()
    if row is None:
        return dict(DEFAULTS)
    return {kind: bool(getattr(row, f"email_{kind}")) for kind in NOTIFICATION_TYPES}


async def update_email_preferences(session: AsyncSession, user_id: uuid.UUID,
                                   changes: dict[str, bool]) -> dict[str, bool]:
    """Apply ``changes`` (a subset of the types) and return the full, current switches.

    The row is created with the defaults if missing, then updated in place, so two concurrent
    updates of different switches both take effect."""
    await session.execute(insert(preferences).values(user_id=user_id)
                          .on_conflict_do_nothing(index_elements=[preferences.c.user_id]))
    values = {f"email_{kind}": value for kind, value in changes.items() if kind in DEFAULTS}
    row = (await session.execute(
        preferences.update().where(preferences.c.user_id == user_id)
        .values(**values, updated_at=sa.func.now()).returning(preferences))).one()
    return {kind: bool(getattr(row, f"email_{kind}")) for kind in NOTIFICATION_TYPES}

