"""Transactional outbox: an event is a row written in the caller's transaction, with a NOTIFY
that PostgreSQL delivers only at commit, which wakes the relay.

Services publish through their :class:`Publisher`; :func:`add_events` is the one place that
writes outbox rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from contracts.events import Envelope, Payload, make_event
from contracts.streams import STREAM_BY_PRODUCER
from sqlalchemy.ext.asyncio import AsyncSession

from chassis.logging import request_id_var


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel the relay of ``schema`` waits on."""
    return f"outbox_{schema}"


async def add_events(session: AsyncSession, outbox: sa.Table, stream: str,
                     envelopes: Sequence[Envelope]) -> None:
    """Record ``envelopes`` for publication on ``stream``, atomically with the caller's
    changes: one row each, one NOTIFY for them all. Nothing is published if the transaction
    rolls back."""
    if not envelopes:
        return
    added = outbox.insert().values([
        {"event_id": envelope.event_id, "stream": stream,
         "envelope": envelope.model_dump(mode="json")} for envelope in envelopes
    ]).returning(outbox.c.id).cte("added")
    # One round trip: the rows (a data-modifying WITH runs whether or not it is read) and
    # the NOTIFY, which PostgreSQL delivers only when (and if) the transaction commits.
    await session.execute(sa.select(sa.func.pg_notify(notify_channel(outbox.schema or "public"),
                                                      "")).where(sa.exists(added.select())))


async def add_event(session: AsyncSession, outbox: sa.Table, stream: str,
                    envelope: Envelope) -> None:
    """Record one ``envelope`` for publication on ``stream`` (see :func:`add_events`)."""
    await add_events(session, outbox, stream, [envelope])


class Publisher:
    """How a service publishes its events: through its ``outbox`` table, on the stream of its
    producer name (by default the outbox's schema, which is the service's name).

    The envelope's context follows one rule everywhere:

    * ``actor_id`` is always given: the user whose action caused the event, or None for the
      system (a scheduled scan, for instance);
    * ``correlation_id`` is the one given, else the id bound to the current context (the
      request id during an API request, the handled event's correlation id inside a consumer
      handler: both are bound for logging), else None."""

    def __init__(self, outbox: sa.Table, *, producer: str | None = None) -> None:
        self.outbox = outbox
        self.producer = producer or outbox.schema or "public"
        self.stream = STREAM_BY_PRODUCER[self.producer]

    async def publish(self, session: AsyncSession, event_type: str, payload: Payload, *,
                      actor_id: uuid.UUID | None,
                      correlation_id: str | None = None) -> Envelope:
        """Record one event in the caller's transaction; returns its envelope."""
        [envelope] = await self.publish_many(session, [(event_type, payload)],
                                             actor_id=actor_id, correlation_id=correlation_id)
        return envelope

    async def publish_many(self, session: AsyncSession,
                           events: Iterable[tuple[str, Payload]], *,
                           actor_id: uuid.UUID | None,
                           correlation_id: str | None = None) -> list[Envelope]:
        """Record several events of one context in the caller's transaction, in order (one
        insert, one NOTIFY); returns their envelopes."""
        correlation = correlation_id or request_id_var.get()
        envelopes = [make_event(event_type, payload, producer=self.producer,
                                actor_id=actor_id, correlation_id=correlation)
                     for event_type, payload in events]
        await add_events(session, self.outbox, self.stream, envelopes)
        return envelopes
