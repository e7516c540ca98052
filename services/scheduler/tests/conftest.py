"""Scheduler tests: real PostgreSQL and Redis (devstack fixtures), the real consumer handlers
and the real scan with an injected clock (no sleeping for hours). No mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from chassis.db import make_engine, make_session_factory
from contracts.events import Envelope
from devstack.pytest_plugin import migrated_database
from scheduler.config import SchedulerSettings
from scheduler.events.consumer import build_consumer

# A fresh database per test module, migrated to head.
database_url, db = migrated_database("scheduler", scope="module")


@pytest.fixture
def clean(db: sa.Engine) -> None:
    """Every scan test starts from an empty read model and outbox (scans see all rows)."""
    with db.begin() as conn:
        conn.exec_driver_sql("TRUNCATE scheduler.tracked_tasks, scheduler.outbox, "
                             "scheduler.processed_events")


@pytest.fixture
def settings(database_url: str, redis_url: str, clean) -> SchedulerSettings:
    return SchedulerSettings(database_url=database_url, redis_url=redis_url,
                             scan_interval_seconds=0.1, consumer_reclaim_idle_ms=500)


@pytest.fixture
async def sessions(settings) -> AsyncIterator[Any]:
    engine = make_engine(settings.database_url, pool_size=2)
    yield make_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def process(settings) -> Callable[..., Awaitable[list[bool]]]:
    """Run envelopes through the consumer's idempotency transaction and handlers."""
    async def _process(*envelopes: Envelope) -> list[bool]:
        consumer = build_consumer(settings, consumer_name="direct")
        try:
            return [await consumer.process(e.model_dump(mode="json")) for e in envelopes]
        finally:
            await consumer.engine.dispose()
            await consumer.redis.aclose()
    return _process


@pytest.fixture
def outbox(db: sa.Engine) -> Callable[[], list[dict]]:
    """The reminder envelopes waiting in the scheduler's outbox, oldest first."""
    def _rows() -> list[dict]:
        with db.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(
                "SELECT stream, envelope FROM scheduler.outbox ORDER BY id")).mappings()]
    return _rows
