"""The outbox relay and consumer base against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from chassis.db import make_engine, make_session_factory
from chassis.outbox import add_event
from chassis.relay import OutboxRelay
from chassis.settings import ServiceSettings
from chassis.worker import running
from contracts.events import UserUpdated, make_event
from contracts.streams import dead_letter_stream
from devstack.testing import stream_entries

from libs.chassis.tests import plumbing_app as app

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def database_url(database_server) -> str:
    url = database_server.create_database("plumbing")
    app.create_schema(url)
    return url


@pytest.fixture
def settings(database_url: str, redis_url: str) -> ServiceSettings:
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        for table in (app.effects, app.processed, app.outbox):
            conn.execute(table.delete())
    engine.dispose()
    return ServiceSettings(database_url=database_url, redis_url=redis_url,
                           consumer_reclaim_idle_ms=300, consumer_max_attempts=3,
                           relay_poll_seconds=0.2)


async def write_events(settings: ServiceSettings, emails: list[str]) -> list[str]:
    """Commit one outbox row per e-mail, the way a service does it."""
    engine = make_engine(settings.database_url)
    ids = []
    async with make_session_factory(engine)() as session, session.begin():
        for email in emails:
            envelope = app.user_event(email)
            ids.append(str(envelope.event_id))
            await add_event(session, app.outbox, app.STREAM, envelope)
    await engine.dispose()
    return ids


def relay_of(settings: ServiceSettings) -> OutboxRelay:
    return OutboxRelay(schema=app.SCHEMA, database_url=settings.database_url,
                       redis_url=settings.redis_url, poll_seconds=0.2)


async def wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def scalar(settings: ServiceSettings, query: str) -> int:
    engine = make_engine(settings.database_url)
    async with engine.connect() as conn:
        value = (await conn.execute(sa.text(query))).scalar_one()
    await engine.dispose()
    return int(value)


async def pending_count(redis_url: str) -> int:
    client = aioredis.from_url(redis_url)
    info = await client.xpending(app.STREAM, app.GROUP)
    await client.aclose()
    return int(info["pending"])


async def test_relay_publishes_on_commit_and_consumer_applies_each_event_once(settings):
    async with running(app.make_consumer(settings)), running(relay_of(settings)):
        await write_events(settings, [f"user{i}@example.com" for i in range(20)])
        await wait_until(lambda: _count_effects(settings, 20))
        # Redelivery of every event (e.g. a relay that died after XADD) changes nothing.
        client = aioredis.from_url(settings.redis_url)
        for _, fields in stream_entries(await client.xrange(app.STREAM)):
            await client.xadd(app.STREAM, {key: value for key, value in fields.items()})
        await client.aclose()
        await wait_until(lambda: _no_pending(settings))
    assert await scalar(settings, "SELECT count(*) FROM plumbing.effects") == 20
    assert await scalar(settings, "SELECT count(DISTINCT event_id) FROM plumbing.effects") == 20
    assert await scalar(settings, "SELECT count(*) FROM plumbing.outbox") == 0


async def _count_effects(settings: ServiceSettings, expected: int) -> bool:
    return await scalar(settings, "SELECT count(*) FROM plumbing.effects") >= expected


async def _no_pending(settings: ServiceSettings) -> bool:
    return await pending_count(settings.redis_url) == 0


async def test_rolled_back_transaction_publishes_nothing(settings):
    engine = make_engine(settings.database_url)
    async with make_session_factory(engine)() as session, session.begin():
        await add_event(session, app.outbox, app.STREAM, app.user_event("x@example.com"))
        await session.rollback()
    await engine.dispose()
    async with running(relay_of(settings)):
        await asyncio.sleep(0.5)
    client = aioredis.from_url(settings.redis_url)
    assert await client.exists(app.STREAM) == 0
    await client.aclose()


async def test_events_published_before_the_group_exists_are_delivered(settings):
    async with running(relay_of(settings)):
        await write_events(settings, ["early1@example.com", "early2@example.com"])
        client = aioredis.from_url(settings.redis_url)
        await wait_until(lambda: _stream_length(client, 2))
        assert await client.exists(app.STREAM) == 1
        groups = await client.xinfo_groups(app.STREAM)
        await client.aclose()
    assert groups == []  # nobody was listening when they were published
    async with running(app.make_consumer(settings)):
        await wait_until(lambda: _count_effects(settings, 2))


async def _stream_length(client, expected: int) -> bool:
    return await client.exists(app.STREAM) and await client.xlen(app.STREAM) >= expected


async def test_consumer_killed_between_commit_and_ack_is_reclaimed_and_effect_happens_once(
        settings):
    await write_events(settings, ["victim@example.com"])
    async with running(relay_of(settings)):
        client = aioredis.from_url(settings.redis_url)
        await wait_until(lambda: _stream_length(client, 1))
    env = {**os.environ, "PLUMBING_DATABASE_URL": settings.database_url,
           "PLUMBING_REDIS_URL": settings.redis_url}
    doomed = subprocess.run([sys.executable, str(HERE / "plumbing_app.py"), "consumer"],
                            env=env, timeout=60, capture_output=True)
    assert doomed.returncode == -9, doomed.stderr.decode()[-2000:]
    # Its effect committed, but the message is still pending on the dead consumer.
    assert await scalar(settings, "SELECT count(*) FROM plumbing.effects") == 1
    assert await pending_count(settings.redis_url) == 1
    async with running(app.make_consumer(settings, name="survivor")):
        await wait_until(lambda: _no_pending(settings))
    assert await scalar(settings, "SELECT count(*) FROM plumbing.effects") == 1
    await client.aclose()


async def test_relay_killed_mid_batch_loses_nothing(settings):
    ids = await write_events(settings, [f"batch{i}@example.com" for i in range(10)])
    env = {**os.environ, "PLUMBING_DATABASE_URL": settings.database_url,
           "PLUMBING_REDIS_URL": settings.redis_url}
    doomed = subprocess.run([sys.executable, str(HERE / "plumbing_app.py"), "relay"],
                            env=env, timeout=60, capture_output=True)
    assert doomed.returncode == -9, doomed.stderr.decode()[-2000:]
    # Three made it to Redis, but the batch was never committed: all rows are still there.
    assert await scalar(settings, "SELECT count(*) FROM plumbing.outbox") == 10
    async with running(app.make_consumer(settings)), running(relay_of(settings)):
        await wait_until(lambda: _count_effects(settings, 10))
        await wait_until(lambda: _no_pending(settings))
    assert await scalar(settings, "SELECT count(*) FROM plumbing.outbox") == 0
    rows = await scalar(settings, "SELECT count(DISTINCT event_id) FROM plumbing.effects")
    assert rows == len(ids) == 10


async def test_poison_message_is_dead_lettered_after_max_attempts(settings):
    async with running(app.make_consumer(settings)), running(relay_of(settings)):
        await write_events(settings, ["poison@example.com", "fine@example.com"])
        await wait_until(lambda: _count_effects(settings, 1))
        client = aioredis.from_url(settings.redis_url)
        dlq = dead_letter_stream(app.GROUP)
        await wait_until(lambda: _stream_length_of(client, dlq, 1), timeout=20)
        await wait_until(lambda: _no_pending(settings))
        (_, fields), = stream_entries(await client.xrange(dlq))
        await client.aclose()
    assert fields[b"attempts"] == b"3"  # failed max_attempts (3) times, then parked
    assert b"poison message" in fields[b"error"]
    assert b"poison@example.com" in fields[b"body"]
    assert await scalar(settings, "SELECT count(*) FROM plumbing.effects") == 1


async def _stream_length_of(client, stream: str, expected: int) -> bool:
    return await client.exists(stream) and await client.xlen(stream) >= expected


async def test_unknown_event_types_are_acknowledged_and_ignored(settings):
    client = aioredis.from_url(settings.redis_url)
    consumer = app.make_consumer(settings)
    async with running(consumer):
        await consumer.broker.publish(
            {"event_id": "6d1f7c1e-8f55-4a39-9c62-0f3f4c1d2b11", "type": "future.thing",
             "version": 7, "occurred_at": "2026-11-26T00:00:00Z", "producer": "x",
             "data": {"anything": 1}, "new_envelope_field": True}, stream=app.STREAM)
        await wait_until(lambda: _stream_length(client, 1))
        await wait_until(lambda: _no_pending(settings))
    await client.aclose()
    assert await scalar(settings, "SELECT count(*) FROM plumbing.effects") == 0


async def test_events_without_a_handler_are_acknowledged_without_a_transaction(settings):
    """A known type this consumer has no handler for: acknowledged, nothing recorded."""
    client = aioredis.from_url(settings.redis_url)
    before = await scalar(settings, "SELECT count(*) FROM plumbing.processed_events")
    consumer = app.make_consumer(settings)
    async with running(consumer):
        envelope = make_event("user.updated", UserUpdated(
            user_id=uuid.uuid4(), email="ignored@example.com", full_name="Ignored"),
            producer="identity")
        length = await client.xlen(app.STREAM) if await client.exists(app.STREAM) else 0
        await consumer.broker.publish(envelope.model_dump(mode="json"), stream=app.STREAM)
        await wait_until(lambda: _stream_length(client, length + 1))
        await wait_until(lambda: _no_pending(settings))
    await client.aclose()
    assert await scalar(settings, "SELECT count(*) FROM plumbing.processed_events") == before


async def test_an_outage_longer_than_max_attempts_does_not_dead_letter(settings):
    """Infrastructure errors (database unreachable) are retried without being counted."""
    app.OUTAGE_FAILURES["left"] = 3 * settings.consumer_max_attempts
    async with running(app.make_consumer(settings)), running(relay_of(settings)):
        await write_events(settings, ["outage@example.com"])
        await wait_until(lambda: _count_effects(settings, 1), timeout=60)
        await wait_until(lambda: _no_pending(settings))
    assert app.OUTAGE_FAILURES["left"] == 0
    client = aioredis.from_url(settings.redis_url)
    assert await client.exists(dead_letter_stream(app.GROUP)) == 0
    await client.aclose()


# -- statement timeout --------------------------------------------------------------------------

async def test_statement_timeout_cancels_a_runaway_query(database_url: str) -> None:
    engine = make_engine(database_url, statement_timeout_ms=200)
    try:
        async with engine.connect() as conn:
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                await conn.execute(sa.text("SELECT pg_sleep(2)"))
        async with engine.connect() as conn:   # the pool still serves working connections
            assert (await conn.execute(sa.text("SHOW statement_timeout"))).scalar() == "200ms"
    finally:
        await engine.dispose()


async def test_statement_timeout_zero_means_none(database_url: str) -> None:
    engine = make_engine(database_url, statement_timeout_ms=0)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SHOW statement_timeout"))).scalar() == "0"
            await conn.execute(sa.text("SELECT pg_sleep(0.3)"))
    finally:
        await engine.dispose()


async def test_consumers_take_the_timeout_from_settings(settings: ServiceSettings) -> None:
    consumer = app.make_consumer(settings.model_copy(update={"db_statement_timeout_ms": 1234}))
    try:
        async with consumer.engine.connect() as conn:
            assert (await conn.execute(sa.text("SHOW statement_timeout"))).scalar() == "1234ms"
    finally:
        await consumer.close()


def test_statement_timeout_setting_refuses_negative_values() -> None:
    assert ServiceSettings().db_statement_timeout_ms == 30_000
    with pytest.raises(ValueError):
        ServiceSettings(db_statement_timeout_ms=-1)
