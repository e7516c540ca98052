"""Stream retention (chassis.retention) against a real Redis: only entries every consumer
group is past *and* older than the retention period go."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from chassis.relay import OutboxRelay
from chassis.retention import parse_id, safe_trim_point, trim_stream

HOUR_MS = 3_600_000


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def stream() -> str:
    return f"retention-{uuid.uuid4().hex}.events"


async def add_entries(redis: aioredis.Redis, stream: str, count: int,
                      first_ms: int = 1_000) -> list[str]:
    """``count`` entries with explicit, old ids (1 s apart from ``first_ms``)."""
    ids = []
    for i in range(count):
        entry_id = await redis.xadd(stream, {"n": str(i)}, id=f"{first_ms + i * 1000}-0")
        assert isinstance(entry_id, str)   # the fixture's client decodes responses
        ids.append(entry_id)
    return ids


async def consume(redis: aioredis.Redis, stream: str, group: str, count: int,
                  ack: int) -> None:
    """Group ``group`` reads ``count`` entries and acknowledges the first ``ack`` of them."""
    entries = await redis.xreadgroup(group, "c1", {stream: ">"}, count=count)
    assert isinstance(entries, list)   # RESP2: [[stream, [(id, fields), ...]]]
    ids = [entry_id for entry_id, _ in entries[0][1]] if entries else []
    if ids[:ack]:
        await redis.xack(stream, group, *ids[:ack])


async def test_only_what_every_group_acknowledged_goes(redis, stream):
    ids = await add_entries(redis, stream, 10)
    await redis.xgroup_create(stream, "fast", id="0")
    await redis.xgroup_create(stream, "slow", id="0")
    await consume(redis, stream, "fast", 10, ack=10)
    await consume(redis, stream, "slow", 8, ack=5)     # 6th..8th pending, 9th..10th unread
    now = int(time.time() * 1000)
    assert await safe_trim_point(redis, stream, now_ms=now, retention_ms=0) == parse_id(ids[5])
    assert await trim_stream(redis, stream, now_ms=now, retention_ms=0) == 5
    remaining = [entry_id for entry_id, _ in await redis.xrange(stream)]
    assert remaining == ids[5:]
    # the slow group still gets its pending entries (e.g. reclaimed after a crash)...
    claimed = await redis.xautoclaim(stream, "slow", "c2", min_idle_time=0, start_id="0-0")
    assert [entry_id for entry_id, _ in claimed[1]] == ids[5:8]
    # ...and its unread ones.
    unread = await redis.xreadgroup("slow", "c1", {stream: ">"})
    assert [entry_id for entry_id, _ in unread[0][1]] == ids[8:]


async def test_unread_entries_stay(redis, stream):
    ids = await add_entries(redis, stream, 6)
    await redis.xgroup_create(stream, "reader", id="0")
    await consume(redis, stream, "reader", 2, ack=2)   # nothing pending, 3rd..6th unread
    now = int(time.time() * 1000)
    await trim_stream(redis, stream, now_ms=now, retention_ms=0)
    # The last delivered entry is kept (the point is inclusive); nothing unread is touched.
    assert [entry_id for entry_id, _ in await redis.xrange(stream)] == ids[1:]


async def test_young_entries_stay_even_when_processed(redis, stream):
    now = int(time.time() * 1000)
    old = await add_entries(redis, stream, 3, first_ms=now - 2 * HOUR_MS)
    young = await add_entries(redis, stream, 3, first_ms=now - 10 * 60_000)
    await redis.xgroup_create(stream, "reader", id="0")
    await consume(redis, stream, "reader", 6, ack=6)
    assert len(old) == 3
    assert await trim_stream(redis, stream, now_ms=now, retention_ms=HOUR_MS) == 3
    assert [entry_id for entry_id, _ in await redis.xrange(stream)] == young


async def test_without_groups_retention_alone_decides(redis, stream):
    now = int(time.time() * 1000)
    old = await add_entries(redis, stream, 3, first_ms=now - 10 * HOUR_MS)
    young = await add_entries(redis, stream, 2, first_ms=now - 60_000)
    assert len(old) == 3
    assert await trim_stream(redis, stream, now_ms=now, retention_ms=HOUR_MS) == 3
    assert [entry_id for entry_id, _ in await redis.xrange(stream)] == young
    # A group created now still reads everything within the retention period.
    await redis.xgroup_create(stream, "late", id="0")
    late = await redis.xreadgroup("late", "c1", {stream: ">"})
    assert [entry_id for entry_id, _ in late[0][1]] == young


async def test_missing_stream_is_nothing_to_do(redis, stream):
    assert await trim_stream(redis, stream, now_ms=int(time.time() * 1000),
                             retention_ms=0) == 0


async def test_relay_trims_its_stream_periodically(redis, redis_url, stream):
    ids = await add_entries(redis, stream, 5)
    await redis.xgroup_create(stream, "reader", id="0")
    await consume(redis, stream, "reader", 5, ack=5)
    relay = OutboxRelay(schema="unused", database_url="postgresql://127.0.0.1:1/none",
                        redis_url=redis_url, poll_seconds=0.1, streams_to_trim=[stream],
                        retention_hours=0, trim_interval_seconds=0.1)
    task = asyncio.create_task(relay.run())   # no database: publishing retries, trimming runs
    try:
        deadline = time.monotonic() + 10
        while relay.trimmed < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
    assert relay.trimmed == 4
    assert [entry_id for entry_id, _ in await redis.xrange(stream)] == ids[4:]
