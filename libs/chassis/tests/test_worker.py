"""The worker base: the retry loop and the heartbeats, against a real Redis."""

from __future__ import annotations

import asyncio
import json
import time

import redis.asyncio as aioredis
from chassis.worker import (
    HEARTBEAT_FORGET_SECONDS,
    HEARTBEAT_STALE_SECONDS,
    Heartbeat,
    Worker,
    heartbeat_key,
    worker_states,
)


async def test_a_fresh_heartbeat_is_ok_a_stale_or_missing_one_is_failing(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        await Heartbeat(redis_url, "boards", "relay").beat_once(client)
        now = time.time()
        states = await worker_states(client, "boards", ["relay", "consumer"], now=now)
        assert states == {"relay": "ok", "consumer": "failing: no heartbeat"}
        later = now + HEARTBEAT_STALE_SECONDS + 5
        stale = await worker_states(client, "boards", ["relay"], now=later)
        assert stale["relay"].startswith("failing: no heartbeat for ")
        # Another service's heartbeats are its own.
        assert await worker_states(client, "notifier", ["relay"], now=now) == {
            "relay": "failing: no heartbeat"}
    finally:
        await client.aclose()


async def test_one_live_instance_is_enough_and_old_instances_are_forgotten(
        redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    now = time.time()
    try:
        key = heartbeat_key("scheduler")
        await client.hset(key, "scanner/dead-1", json.dumps({"at": now - 60, "state": "ok"}))
        await client.hset(key, "scanner/gone-2", json.dumps(
            {"at": now - HEARTBEAT_FORGET_SECONDS - 1, "state": "ok"}))
        await client.hset(key, "scanner/live-3", json.dumps({"at": now - 1, "state": "ok"}))
        await client.hset(key, "relay/bad", b"not json")
        states = await worker_states(client, "scheduler", ["scanner", "relay"], now=now)
        assert states == {"scanner": "ok", "relay": "failing: no heartbeat"}
        assert sorted(await client.hkeys(key)) == [b"scanner/dead-1", b"scanner/live-3"]
    finally:
        await client.aclose()


class Flaky(Worker):
    """Fails its first two stretches (a dependency away), then works until stopped."""

    def __init__(self, redis_url: str) -> None:
        super().__init__(service="test", kind="flaky", redis_url=redis_url)
        self.attempts = 0
        self.states_seen: list[str] = []
        self.closed = False

    async def run_connected(self) -> None:
        self.attempts += 1
        if self.attempts <= 2:
            raise ConnectionError("database away")
        while not self.stopping:
            await self.sleep(0.05)

    async def close(self) -> None:
        self.closed = True


async def test_the_worker_retries_with_backoff_and_beats_its_state(redis_url: str) -> None:
    worker = Flaky(redis_url)
    client = aioredis.from_url(redis_url)
    task = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + 10
        while worker.attempts < 3:   # 0.2 s, then 0.4 s of backoff
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert worker.retrying is False
        assert worker.heartbeat is not None
        await worker.heartbeat.beat_once(client)
        assert await worker_states(client, "test", ["flaky"]) == {"flaky": "ok"}
        worker.retrying = True   # as during a backoff
        await worker.heartbeat.beat_once(client)
        assert await worker_states(client, "test", ["flaky"]) == {"flaky": "failing: retrying"}
    finally:
        worker.stop()
        await asyncio.wait_for(task, 5)
        await client.aclose()
    assert worker.closed
