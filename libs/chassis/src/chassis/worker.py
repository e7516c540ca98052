"""What every background worker shares: a stop signal, the retry-with-backoff loop around one
connected stretch of work, signal handling, and a heartbeat that says the worker is alive.

A worker kind (relay, consumer, mailer, scanner) subclasses :class:`Worker` and writes only
its domain step, :meth:`Worker.run_connected`: connect, set :attr:`Worker.connected`, work
until :attr:`Worker.stopping`, raise when a dependency goes away. The base retries after
0.2 s doubling to 5 s (nothing is lost: work stays in the database or the stream until done)
and resets the delay after a clean stretch. Workers run as tasks of the process that hosts
them (:mod:`chassis.serve`); :func:`running` runs one inside a test.

Heartbeats: every ``HEARTBEAT_SECONDS`` each worker process writes ``{"at": <unix time>,
"state": "ok" | "retrying", "pid": ...}`` into the Redis hash ``heartbeats:<service>``
under the field ``<kind>/<instance>``. A kind counts as alive when one of its instances
wrote "ok" within ``HEARTBEAT_STALE_SECONDS``: a dead or stuck process (its event loop no
longer turns) goes stale within that time. Each service's ``/health/ready`` reports its kinds
(:func:`worker_states`); the gateway's ``/healthz`` gathers them all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis

from chassis.logging import get_logger

log = get_logger(__name__)

HEARTBEAT_SECONDS = 5.0
HEARTBEAT_STALE_SECONDS = 15.0
# Fields of instances gone this long are dropped from the hash by the readers.
HEARTBEAT_FORGET_SECONDS = 3600.0
FIRST_BACKOFF = 0.2
MAX_BACKOFF = 5.0


def heartbeat_key(service: str) -> str:
    return f"heartbeats:{service}"


def instance_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Heartbeat:
    """Writes this process's heartbeat for one worker kind until :meth:`stop`."""

    def __init__(self, redis_url: str, service: str, kind: str,
                 state: Callable[[], str] = lambda: "ok") -> None:
        self.redis_url = redis_url
        self.key = heartbeat_key(service)
        self.field = f"{kind}/{instance_name()}"
        self.state = state
        self._task: asyncio.Task[None] | None = None

    async def beat_once(self, client: aioredis.Redis) -> None:
        value = {"at": time.time(), "state": self.state(), "pid": os.getpid()}
        await client.hset(self.key, self.field, json.dumps(value))

    async def _beat_forever(self) -> None:
        client = aioredis.from_url(self.redis_url, socket_timeout=3)
        try:
            while True:
                try:
                    await self.beat_once(client)
                except Exception as exc:  # Redis away: the heartbeat goes stale, as it should
                    log.debug("heartbeat_failed", error=repr(exc)[:200])
                await asyncio.sleep(HEARTBEAT_SECONDS)
        finally:
            await client.aclose()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def worker_states(client: aioredis.Redis, service: str, kinds: Sequence[str],
                        now: float | None = None) -> dict[str, str]:
    """``{kind: "ok" | why not}`` for each expected kind of ``service``, from the heartbeats;
    forgets instances silent for an hour (replaced processes)."""
    now = time.time() if now is None else now
    raw: dict[bytes | str, bytes | str] = await client.hgetall(heartbeat_key(service))
    latest: dict[str, dict[str, Any]] = {}
    forgotten: list[bytes | str] = []
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else field
        kind = name.split("/", 1)[0]
        try:
            beat = json.loads(value)
            at = float(beat["at"])
        except (ValueError, KeyError, TypeError):
            forgotten.append(field)
            continue
        if now - at > HEARTBEAT_FORGET_SECONDS:
            forgotten.append(field)
            continue
        best = latest.get(kind)
        # Prefer an instance that is "ok"; among equals, the most recent.
        if best is None or (beat.get("state") == "ok", at) > (best.get("state") == "ok",
                                                               best["at"]):
            latest[kind] = {**beat, "at": at}
    if forgotten:
        await client.hdel(heartbeat_key(service), *forgotten)
    states = {}
    for kind in kinds:
        beat = latest.get(kind)
        if beat is None:
            states[kind] = "failing: no heartbeat"
        elif now - beat["at"] > HEARTBEAT_STALE_SECONDS:
            states[kind] = f"failing: no heartbeat for {now - beat['at']:.0f}s"
        elif beat.get("state") != "ok":
            states[kind] = f"failing: {beat.get('state')}"
        else:
            states[kind] = "ok"
    return states


class Worker:
    """Base of the long-running workers; see the module docstring."""

    def __init__(self, *, service: str, kind: str, redis_url: str | None) -> None:
        self.service = service
        self.kind = kind
        self.retrying = False
        # Set by run_connected once its dependencies answer; cleared when a stretch ends.
        self.connected = asyncio.Event()
        self._stop = asyncio.Event()
        self.heartbeat = Heartbeat(redis_url, service, kind, self._health) \
            if redis_url else None

    def _health(self) -> str:
        return "retrying" if self.retrying else "ok"

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    async def until_stopped(self) -> None:
        await self._stop.wait()

    async def sleep(self, seconds: float) -> None:
        """Waits ``seconds``, or less if asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def run_connected(self) -> None:
        """The worker's own work: connect, work until :attr:`stopping`, raise on a lost
        dependency (the base retries)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Releases what the worker holds, once, after the loop ends."""

    async def run(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.start()
        backoff = FIRST_BACKOFF
        try:
            while not self.stopping:
                started = time.monotonic()
                try:
                    await self.run_connected()
                except Exception as exc:  # database or Redis gone, not migrated yet, ...
                    self.connected.clear()
                    if time.monotonic() - started > MAX_BACKOFF:
                        backoff = FIRST_BACKOFF   # it had been working: a fresh failure
                    log.warning(f"{self.kind}_retrying", error=repr(exc)[:300],
                                backoff=backoff)
                    # "retrying" while waiting to try again: what the heartbeat reports.
                    self.retrying = True
                    await self.sleep(backoff)
                    self.retrying = False
                    backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            if self.heartbeat is not None:
                await self.heartbeat.stop()
            await self.close()


WorkerT = TypeVar("WorkerT", bound=Worker)
RUNNING_TIMEOUT_SECONDS = 15.0


@contextlib.asynccontextmanager
async def running(worker: WorkerT) -> AsyncIterator[WorkerT]:
    """Runs ``worker`` as a task of the current loop until the block ends (tests, tools);
    enters once it is connected, raising what ended it if it ended first."""
    timeout = RUNNING_TIMEOUT_SECONDS
    task = asyncio.create_task(worker.run())
    connected = asyncio.create_task(worker.connected.wait())
    try:
        await asyncio.wait({task, connected}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
            raise RuntimeError(f"{worker.kind} ended before it connected")
        if not worker.connected.is_set():
            raise TimeoutError(f"{worker.kind} not connected after {timeout}s")
        yield worker
    finally:
        connected.cancel()
        worker.stop()
        await asyncio.wait_for(task, timeout)


def run_until_signalled(main: Callable[[], Awaitable[None]], stop: Callable[[], None]) -> None:
    """``asyncio.run(main())`` with SIGINT and SIGTERM calling ``stop`` (a clean finish)."""

    async def _main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        await main()

    asyncio.run(_main())
