"""A tiny producer/consumer used by the plumbing tests: a ``plumbing`` schema with an
outbox, a processed-events table and an ``effects`` table the handler writes to.

Also runnable as a process (``python plumbing_app.py consumer|relay``) so tests can kill it
with SIGKILL at a precise point (``PLUMBING_KILL_AT``)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from typing import Any

import psycopg
import sqlalchemy as sa
from chassis.consumer import EventConsumer
from chassis.db import outbox_table, processed_events_table, service_metadata
from chassis.relay import OutboxRelay
from chassis.settings import ServiceSettings
from contracts.events import Envelope, UserRegistered, make_event
from sqlalchemy.ext.asyncio import AsyncSession

SCHEMA = "plumbing"
STREAM = "plumbing.events"
GROUP = "plumbing-consumer"

metadata = service_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed = processed_events_table(metadata)
effects = sa.Table("effects", metadata,
                   sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
                   sa.Column("event_id", sa.Uuid, nullable=False),
                   sa.Column("email", sa.Text, nullable=False))


def create_schema(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        metadata.drop_all(conn)
        metadata.create_all(conn)
    engine.dispose()


def user_event(email: str) -> Envelope:
    return make_event("user.registered",
                      UserRegistered(user_id=uuid.uuid4(), email=email, full_name="P"),
                      producer="plumbing")


# How many more times "outage" events fail as if the database were unreachable.
OUTAGE_FAILURES = {"left": 0}


async def record_effect(session: AsyncSession, envelope: Envelope) -> None:
    if envelope.data["email"].startswith("poison"):
        raise RuntimeError("poison message")
    if envelope.data["email"].startswith("outage") and OUTAGE_FAILURES["left"] > 0:
        OUTAGE_FAILURES["left"] -= 1
        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("db down"))
    await session.execute(effects.insert().values(event_id=envelope.event_id,
                                                  email=envelope.data["email"]))


def make_consumer(settings: ServiceSettings, name: str | None = None) -> EventConsumer:
    return EventConsumer(group=GROUP, streams=[STREAM],
                         handlers={"user.registered": record_effect},
                         processed_events=processed, settings=settings, consumer_name=name)


class KillAfterCommitConsumer(EventConsumer):
    """Dies (SIGKILL) after its transaction committed and before the ack."""

    async def process(self, body: Any) -> bool:
        result = await super().process(body)
        os.kill(os.getpid(), signal.SIGKILL)
        return result


class KillMidBatchRelay(OutboxRelay):
    """Publishes part of a batch, then dies (SIGKILL) before deleting the rows."""

    async def publish_batch(self, conn: psycopg.AsyncConnection) -> int:
        original = self.broker.publish
        count = 0

        async def publish_then_die(*args, **kwargs):
            nonlocal count
            count += 1
            if count > 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return await original(*args, **kwargs)

        self.broker.publish = publish_then_die  # type: ignore[method-assign]
        return await super().publish_batch(conn)


def _settings() -> ServiceSettings:
    return ServiceSettings(database_url=os.environ["PLUMBING_DATABASE_URL"],
                           redis_url=os.environ["PLUMBING_REDIS_URL"],
                           consumer_reclaim_idle_ms=300, consumer_max_attempts=3)


if __name__ == "__main__":
    settings = _settings()
    if sys.argv[1] == "consumer":
        consumer = KillAfterCommitConsumer(group=GROUP, streams=[STREAM],
                                           handlers={"user.registered": record_effect},
                                           processed_events=processed, settings=settings,
                                           consumer_name="doomed")
        asyncio.run(consumer.run())
    else:
        relay = KillMidBatchRelay(schema=SCHEMA, database_url=settings.database_url,
                                  redis_url=settings.redis_url, batch_size=50)
        asyncio.run(relay.run())
