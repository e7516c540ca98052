"""Outbox relay: publishes a service's outbox rows to Redis Streams.

One per service that publishes events (the ``relay`` role of ``python -m chassis.serve``;
the service's ``WORKERS`` build it with :meth:`OutboxRelay.for_service`). It wakes on the NOTIFY
that :func:`chassis.outbox.add_event` sends at commit and polls as a backstop. A batch is
claimed with ``FOR UPDATE SKIP LOCKED``, published, and deleted in the same transaction, so
a relay killed mid-batch leaves its rows in place: they are published again (at-least-once)
and consumers drop the duplicates by ``event_id``.

The relay also keeps its stream from growing for ever: every ``trim_interval_seconds`` it
removes entries every consumer group has processed and that are older than the retention
period (:mod:`chassis.retention`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import psycopg
import redis.asyncio as aioredis
from contracts.streams import STREAM_BY_PRODUCER
from faststream.redis import RedisBroker
from psycopg.rows import dict_row

from chassis.logging import broker_logging, get_logger
from chassis.outbox import notify_channel
from chassis.retention import trim_stream
from chassis.settings import ServiceSettings
from chassis.worker import Worker

log = get_logger(__name__)


def libpq_dsn(database_url: str) -> str:
    """SQLAlchemy URL -> libpq URL (drop the ``+psycopg`` driver suffix)."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


class OutboxRelay(Worker):
    def __init__(self, *, schema: str, database_url: str, redis_url: str,
                 batch_size: int = 200, poll_seconds: float = 1.0,
                 streams_to_trim: Sequence[str] = (), retention_hours: float = 168,
                 trim_interval_seconds: float = 300) -> None:
        super().__init__(service=schema, kind="relay", redis_url=redis_url)
        self.schema = schema
        self.dsn = libpq_dsn(database_url)
        self.redis_url = redis_url
        self.broker = RedisBroker(redis_url, **broker_logging())
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.streams_to_trim = list(streams_to_trim)
        self.retention_ms = int(retention_hours * 3_600_000)
        self.trim_interval_seconds = trim_interval_seconds
        self.published = 0
        self.trimmed = 0
        self._trimmer: asyncio.Task[None] | None = None

    @classmethod
    def for_service(cls, service: str) -> OutboxRelay:
        """The relay of ``service``'s outbox, from the service's own settings
        (``BOARDS_DATABASE_URL``...); it trims the stream the service produces."""
        settings = ServiceSettings.for_service(service)
        own_stream = STREAM_BY_PRODUCER.get(service)
        return cls(schema=service, database_url=settings.database_url,
                   redis_url=settings.redis_url, batch_size=settings.relay_batch_size,
                   poll_seconds=settings.relay_poll_seconds,
                   streams_to_trim=[own_stream] if own_stream else [],
                   retention_hours=settings.stream_retention_hours)

    async def publish_batch(self, conn: psycopg.AsyncConnection) -> int:
        """Publish up to one batch; returns how many rows went out."""
        async with conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f'SELECT id, stream, envelope FROM "{self.schema}".outbox '
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", (self.batch_size,))
            rows = await cur.fetchall()
            for row in rows:
                envelope = row["envelope"]
                await self.broker.publish(
                    envelope, stream=row["stream"],
                    correlation_id=envelope.get("correlation_id") or envelope["event_id"],
                    headers={"event_type": envelope["type"]})
            if rows:
                await cur.execute(f'DELETE FROM "{self.schema}".outbox WHERE id = ANY(%s)',
                                  ([r["id"] for r in rows],))
        self.published += len(rows)
        return len(rows)

    async def trim_streams(self) -> None:
        """Every ``trim_interval_seconds`` until stopped: trim this relay's streams down to
        what some consumer or the retention period still needs. Failures only wait for the
        next round (a stream that is not trimmed loses nothing)."""
        client = aioredis.from_url(self.redis_url)
        try:
            while not self.stopping:
                for stream in self.streams_to_trim:
                    try:
                        removed = await trim_stream(client, stream,
                                                    now_ms=int(time.time() * 1000),
                                                    retention_ms=self.retention_ms)
                    except Exception as exc:  # a Redis error surfaces under several types
                        log.warning("stream_trim_failed", stream=stream, error=repr(exc))
                        continue
                    self.trimmed += removed
                    if removed:
                        log.info("stream_trimmed", stream=stream, removed=removed)
                await self.sleep(self.trim_interval_seconds)
        finally:
            await client.aclose()

    async def run(self) -> None:
        if self.streams_to_trim:
            self._trimmer = asyncio.create_task(self.trim_streams())
        await super().run()

    async def close(self) -> None:
        self.stop()   # also when cancelled: the trimmer ends with the relay
        if self._trimmer is not None:
            await self._trimmer
        await self.broker.stop()

    async def run_connected(self) -> None:
        await self.broker.connect()
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as listener, \
                await psycopg.AsyncConnection.connect(self.dsn) as worker:
            await listener.execute(f'LISTEN "{notify_channel(self.schema)}"')
            log.info("relay_started", schema=self.schema)
            self.connected.set()
            while not self.stopping:
                if await self.publish_batch(worker) == self.batch_size:
                    continue  # more waiting: no need to sleep
                # Wake on the first commit notification, or poll after poll_seconds.
                async for _ in listener.notifies(timeout=self.poll_seconds, stop_after=1):
                    pass
