"""The scanner processes: exactly one active (PostgreSQL advisory lock), takeover when the
active one goes away, the injectable clock, and the consumer fed through Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from chassis.worker import running
from contracts.events import TaskSnapshot, parse_event
from faststream.redis import RedisBroker
from scheduler.config import SchedulerSettings
from scheduler.events.consumer import build_consumer
from scheduler.scanner import Scanner

from services.scheduler.tests.scheduler_helpers import Task, reminders


async def test_two_scanners_one_active_and_the_standby_takes_over(settings, process, outbox):
    first, second = Scanner(settings, name="first"), Scanner(settings, name="second")
    try:
        assert await first.try_acquire() is True
        assert await second.try_acquire() is False
        # Both keep ticking: only the active one scans.
        for _ in range(3):
            assert await first.tick() is not None
            assert await second.tick() is None
        assert (first.scans, second.scans) == (3, 0)
        await first.close()  # the active one goes away (like a crash: its session ends)
        assert await second.tick() is not None
        assert second.active and second.scans == 1
        assert await first.try_acquire() is False
    finally:
        await first.close()
        await second.close()


async def test_running_scanners_emit_each_reminder_once(settings, process, outbox):
    now = datetime.now(UTC)
    tasks = [Task(due_at=now + timedelta(minutes=30 + i)) for i in range(10)]
    await process(*[t.created() for t in tasks])
    scanners = [Scanner(settings, name=f"s{i}") for i in range(2)]
    runs = [asyncio.create_task(s.run()) for s in scanners]
    try:
        deadline = time.monotonic() + 10
        while len(reminders(outbox(), "due_soon")) < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # several more intervals
    finally:
        for s in scanners:
            s.stop()
        await asyncio.gather(*runs)
    assert len(reminders(outbox(), "due_soon")) == 10
    assert sorted(s.active for s in scanners) == [False, True] or \
        sum(1 for s in scanners if s.scans) == 1


async def test_the_clock_offset_setting_moves_the_scanner_in_time(settings, process, outbox):
    task = Task(due_at=datetime.now(UTC) + timedelta(days=3))
    await process(task.created())
    scanner = Scanner(settings)
    try:
        result = await scanner.tick()
        assert result is not None and result.due_soon == 0
    finally:
        await scanner.close()
    later = settings.model_copy(update={"clock_offset_seconds": 2.5 * 24 * 3600})
    scanner = Scanner(later)
    try:
        result = await scanner.tick()
        assert result is not None and result.due_soon == 1
    finally:
        await scanner.close()
    # Or inject a clock function directly.
    due = task.due_at
    assert due is not None
    scanner = Scanner(settings, clock=lambda: due + timedelta(seconds=1))
    try:
        result = await scanner.tick()
        assert result is not None and result.overdue == 1
    finally:
        await scanner.close()


async def test_the_consumer_tracks_tasks_from_the_boards_stream(settings, db):
    task = Task(due_at=datetime.now(UTC) + timedelta(hours=1))
    async with running(build_consumer(settings, consumer_name="test")):
        broker = RedisBroker(settings.redis_url)
        await broker.connect()
        try:
            for envelope in (task.created(), task.assign(None)):
                await broker.publish(envelope.model_dump(mode="json"), stream="boards.events")
            deadline = time.monotonic() + 10
            row = None
            while time.monotonic() < deadline:
                with db.connect() as conn:
                    row = conn.execute(sa.text(
                        "SELECT assignee_id, version FROM scheduler.tracked_tasks "
                        "WHERE task_id = :t"), {"t": task.task_id}).first()
                if row is not None and row.version == 2:
                    break
                await asyncio.sleep(0.05)
            assert row is not None and row.version == 2 and row.assignee_id is None
        finally:
            await broker.stop()


def test_two_scanner_processes_one_active(settings, tmp_path):
    env = {**os.environ, "SCHEDULER_DATABASE_URL": settings.database_url,
           "SCHEDULER_REDIS_URL": settings.redis_url, "SCHEDULER_SCAN_INTERVAL_SECONDS": "0.2"}
    logs = [tmp_path / f"scanner{i}.log" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "chassis.serve", "scheduler",
                               "--role", "scanner"], env=env,
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
             for log in logs]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            outputs = [log.read_text() for log in logs]
            if all("scanner_active" in o or "scanner_standby" in o for o in outputs):
                break
            time.sleep(0.1)
        time.sleep(0.5)  # a few more intervals: the standby stays on standby
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(15)
    outputs = [log.read_text() for log in logs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sorted(("scanner_active" in o, "scanner_standby" in o) for o in outputs) == \
        [(False, True), (True, False)], outputs


def test_reminder_envelopes_are_valid_events():
    task = Task(due_at=datetime.now(UTC))
    envelope = task.created()
    payload = parse_event(envelope.model_dump(mode="json")).payload()
    assert isinstance(payload, TaskSnapshot) and payload.task_id == task.task_id


def test_settings():
    settings = SchedulerSettings(clock_offset_seconds=60)
    assert settings.now() - datetime.now(UTC) > timedelta(seconds=59)
    assert settings.due_soon_window == timedelta(hours=24)
    assert SchedulerSettings().scan_interval_seconds == 60
