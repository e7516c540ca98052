"""The scanner (the ``scanner`` role of ``python -m chassis.serve scheduler``): runs
:func:`scan_once` every ``scan_interval_seconds``, in exactly one process at a time.

Two (or more) scanner processes may run for availability. Each tries
``pg_try_advisory_lock(scanner_lock_key)`` on a connection it keeps open; the one that gets the
lock is *active* and scans, the others stay on *standby* and retry every interval. PostgreSQL
releases the lock when the holder's connection ends (crash, kill -9, network loss), so a
standby takes over within one interval. (The scan itself is safe to run twice at once: rows
are claimed with SKIP LOCKED and marked in the same transaction as their outbox events.)"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from chassis.db import make_engine, make_session_factory
from chassis.logging import get_logger
from chassis.relay import libpq_dsn
from chassis.worker import Worker

from scheduler.config import SchedulerSettings
from scheduler.service.scan import ScanResult, scan_once

log = get_logger(__name__)


class Scanner(Worker):
    def __init__(self, settings: SchedulerSettings, *,
                 clock: Callable[[], datetime] | None = None, name: str = "scanner") -> None:
        super().__init__(service="scheduler", kind="scanner", redis_url=settings.redis_url)
        self.settings = settings
        self.clock = clock or settings.now
        self.name = name
        self.active = False
        self.scans = 0
        self.last_result: ScanResult | None = None
        self._announced_standby = False
        self._lock_conn: psycopg.AsyncConnection[Any] | None = None
        self.engine = make_engine(settings.database_url, pool_size=2,
                                  statement_timeout_ms=settings.db_statement_timeout_ms)
        self.sessions = make_session_factory(self.engine)

    async def try_acquire(self) -> bool:
        """Become the active scanner if no other process is (non-blocking)."""
        if self._lock_conn is not None and not self._lock_conn.closed:
            try:
                await self._lock_conn.execute("SELECT 1")
                return self.active
            except psycopg.Error:
                log.warning("scanner_lock_connection_lost", name=self.name)
                await self._release()
        conn = await psycopg.AsyncConnection.connect(
            libpq_dsn(self.settings.database_url), autocommit=True)
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)",
                                 (self.settings.scanner_lock_key,))
        row = await cur.fetchone()
        if row and row[0]:
            self._lock_conn, self.active = conn, True
            log.info("scanner_active", name=self.name)
        else:
            await conn.close()
            self.active = False
        return self.active

    async def _release(self) -> None:
        self.active = False
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.close()  # closing the session releases the lock
        self._lock_conn = None

    async def scan(self) -> ScanResult:
        result = await scan_once(self.sessions, now=self.clock(),
                                 window=self.settings.due_soon_window,
                                 batch_size=self.settings.scan_batch_size)
        self.scans += 1
        self.last_result = result
        if result.due_soon or result.overdue:
            log.info("scan_emitted", name=self.name, due_soon=result.due_soon,
                     overdue=result.overdue)
        return result

    async def tick(self) -> ScanResult | None:
        """One interval's work: scan if active (acquiring the lock if free)."""
        if not await self.try_acquire():
            return None
        return await self.scan()

    async def run_connected(self) -> None:
        """A tick every ``scan_interval_seconds``; a lost database ends the stretch (the lock
        goes with the connection) and the worker base retries."""
        log.info("scanner_started", name=self.name,
                 interval_seconds=self.settings.scan_interval_seconds,
                 window_seconds=self.settings.due_soon_window_seconds)
        try:
            while not self.stopping:
                result = await self.tick()
                self.connected.set()   # the database answered
                if result is None and not self._announced_standby:
                    log.info("scanner_standby", name=self.name)
                self._announced_standby = result is None
                await self.sleep(self.settings.scan_interval_seconds)
        except Exception:
            await self._release()
            raise

    async def close(self) -> None:
        await self._release()
        await self.engine.dispose()
