"""Consumer base on FastStream over Redis Streams.

Guarantees, given at-least-once delivery from the relay:

* the consumer group is created at start-up from id ``0`` (events published before the group
  existed are still delivered);
* a message is acknowledged only after the handler's transaction has committed;
* the effect happens once: the event id is inserted into the consumer's ``processed_events``
  table in the same transaction as the effect, and a redelivered event is skipped;
* messages left pending by a dead consumer are reclaimed (XAUTOCLAIM) by a second subscriber;
* after ``max_attempts`` failures of its handler a message moves to the group's dead-letter
  stream; failures of the database or Redis themselves are retried and never counted.

It is a :class:`~chassis.worker.Worker` (kind ``consumer``): hosted as a task by
:mod:`chassis.serve`, retried with backoff if Redis is away when it starts, and beating.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
import sqlalchemy as sa
import sqlalchemy.exc
from contracts.events import Envelope, UnknownEventType, parse_event
from contracts.streams import dead_letter_stream
from faststream import AckPolicy, Context
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.message import RedisStreamMessage
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from chassis.db import make_engine, make_session_factory
from chassis.logging import broker_logging, get_logger, request_id_var
from chassis.settings import ServiceSettings
from chassis.worker import Worker

log = get_logger(__name__)

# Failures of the infrastructure rather than of the message: retried, never counted.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError, redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError, OSError, TimeoutError,
)

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


class EventConsumer(Worker):
    """One consumer group (``group``, usually the service name) reading ``streams``.

    ``handlers`` maps event types to ``async def handler(session, envelope)``; the handler
    runs inside the transaction that also records the event as processed. Types without a
    handler are acknowledged and ignored (tolerant reader), without touching the database.
    """

    def __init__(self, *, group: str, streams: Sequence[str], handlers: Mapping[str, Handler],
                 processed_events: sa.Table, settings: ServiceSettings,
                 consumer_name: str | None = None) -> None:
        # The heartbeat goes under the group's name: a service's group is named after it.
        super().__init__(service=group, kind="consumer", redis_url=settings.redis_url)
        self.group = group
        self.streams = list(streams)
        self.handlers = dict(handlers)
        self.processed_events = processed_events
        self.settings = settings
        self.consumer_name = consumer_name or f"{socket.gethostname()}-{os.getpid()}"
        self.dead_letters = dead_letter_stream(group)
        self.broker = RedisBroker(settings.redis_url, **broker_logging())
        self.engine = make_engine(settings.database_url, pool_size=4,
                                  statement_timeout_ms=settings.db_statement_timeout_ms)
        self.sessions = make_session_factory(self.engine)
        # Failures per message id, counted by us: Redis' delivery count also grows while the
        # database is down, and an outage must not dead-letter good events.
        self._attempts_key = f"{group}.failures"
        self._errors_key = f"{group}.last-error"
        self.redis = aioredis.from_url(settings.redis_url)
        for stream in self.streams:
            self._subscribe(stream)

    # -- wiring ----------------------------------------------------------------------------

    def _subscribe(self, stream: str) -> None:
        fresh = StreamSub(stream, group=self.group, consumer=self.consumer_name,
                          polling_interval=1000)
        reclaim = StreamSub(stream, group=self.group, consumer=self.consumer_name,
                            min_idle_time=self.settings.consumer_reclaim_idle_ms,
                            polling_interval=max(100, self.settings.consumer_reclaim_idle_ms // 4))

        async def on_fresh(body: Any, message: RedisStreamMessage = Context("message")) -> None:
            await self.deliver(body, message, stream, reclaimed=False)

        async def on_reclaimed(body: Any,
                               message: RedisStreamMessage = Context("message")) -> None:
            await self.deliver(body, message, stream, reclaimed=True)

        self.broker.subscriber(stream=fresh, ack_policy=AckPolicy.MANUAL)(on_fresh)
        self.broker.subscriber(stream=reclaim, ack_policy=AckPolicy.MANUAL)(on_reclaimed)

    async def create_groups(self) -> None:
        """XGROUP CREATE <stream> <group> 0 MKSTREAM for every stream (BUSYGROUP ignored).

        Runs before the subscribers start, which would otherwise create the group at ``$``
        and never see events published before it existed."""
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except aioredis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run_connected(self) -> None:
        await self.create_groups()
        try:
            await self.broker.start()
            self.connected.set()
            # FastStream's subscribers read and retry on their own until stopped.
            await self.until_stopped()
        finally:
            await self.broker.stop()

    async def close(self) -> None:
        await self.engine.dispose()
        await self.redis.aclose()

    # -- delivery --------------------------------------------------------------------------

    async def deliver(self, body: Any, message: RedisStreamMessage, stream: str, *,
                      reclaimed: bool) -> None:
        message_id = message.raw_message["message_ids"][0].decode()
        if reclaimed:
            failures = int(await self.redis.hget(self._attempts_key, message_id) or 0)
            if failures >= self.settings.consumer_max_attempts:
                await self.dead_letter(body, stream, message_id, failures)
                await message.ack()
                return
        try:
            await self.process(body)
        except INFRASTRUCTURE_ERRORS as exc:
            # The database or Redis is away: not the message's fault, so it is not counted
            # against it (an outage must never dead-letter good events). It stays pending
            # and is reclaimed once things answer again; pause so we do not spin.
            log.warning("event_deferred", stream=stream, message_id=message_id,
                        error=type(exc).__name__)
            await asyncio.sleep(1)
            return
        except Exception as exc:
            # Left pending: the reclaim subscriber retries it after the idle time.
            log.warning("event_failed", stream=stream, message_id=message_id,
                        error=repr(exc)[:500])
            await self.redis.hincrby(self._attempts_key, message_id, 1)
            await self.redis.hset(self._errors_key, message_id, repr(exc)[:2000])
            return
        await message.ack()
        if reclaimed:
            await self.redis.hdel(self._attempts_key, message_id)
            await self.redis.hdel(self._errors_key, message_id)

    async def process(self, body: Any) -> bool:
        """Run the handler for one raw envelope once; returns False for a duplicate or an
        event this consumer ignores."""
        envelope = parse_event(body)
        handler = self.handlers.get(envelope.type)
        if handler is None:
            # Nothing to do, so nothing to remember: no transaction, just the acknowledgement.
            log.debug("event_ignored", event_id=str(envelope.event_id), event_type=envelope.type)
            return False
        token = request_id_var.set(envelope.correlation_id)
        try:
            envelope.payload()  # validate early: a bad payload is a poison message
            async with self.sessions() as session, session.begin():
                inserted = await session.execute(
                    insert(self.processed_events)
                    .values(event_id=envelope.event_id, event_type=envelope.type)
                    .on_conflict_do_nothing()
                    .returning(self.processed_events.c.event_id))
                if inserted.first() is None:
                    log.info("event_duplicate_skipped", event_id=str(envelope.event_id),
                             event_type=envelope.type)
                    return False
                await handler(session, envelope)
            log.info("event_processed", event_id=str(envelope.event_id),
                     event_type=envelope.type)
            return True
        except UnknownEventType:
            return False
        finally:
            request_id_var.reset(token)

    async def dead_letter(self, body: Any, stream: str, message_id: str,
                          failures: int) -> None:
        """Park a poison message with its last error; replay = XADD its body to ``stream``."""
        last_error = await self.redis.hget(self._errors_key, message_id)
        await self.redis.xadd(self.dead_letters, {
            "stream": stream, "message_id": message_id, "group": self.group,
            "attempts": str(failures),
            "error": last_error.decode() if isinstance(last_error, bytes) else "",
            "body": json.dumps(body, default=str),
        })
        await self.redis.hdel(self._errors_key, message_id)
        await self.redis.hdel(self._attempts_key, message_id)
        log.error("event_dead_lettered", stream=stream, message_id=message_id,
                  failures=failures, dead_letter_stream=self.dead_letters)


__all__ = ["EventConsumer", "Handler", "ValidationError"]
