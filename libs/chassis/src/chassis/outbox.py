"""Transactional outbox: :func:`add_event` writes an event row in the caller's transaction
and a NOTIFY that PostgreSQL delivers only at commit, which wakes the relay."""

from __future__ import annotations

import sqlalchemy as sa
from contracts.events import Envelope
from sqlalchemy.ext.asyncio import AsyncSession


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel the relay of ``schema`` waits on."""
    return f"outbox_{schema}"


async def add_event(session: AsyncSession, outbox: sa.Table, stream: str,
                    envelope: Envelope) -> None:
    """Record ``envelope`` for publication on ``stream``, atomically with the caller's
    changes. Nothing is published if the transaction rolls back."""
    await session.execute(outbox.insert().values(
        event_id=envelope.event_id, stream=stream,
        envelope=envelope.model_dump(mode="json")))
    # Delivered to listeners only when (and if) the transaction commits.
    await session.execute(sa.text("SELECT pg_notify(:channel, '')"),
                          {"channel": notify_channel(outbox.schema or "public")})
