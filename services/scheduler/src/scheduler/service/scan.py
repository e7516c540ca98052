"""The reminder scan: emits ``reminder.overdue`` / ``reminder.due_soon`` through the outbox.

One scan at ``now``:

1. **overdue**: rows still owing an overdue reminder with ``due_at <= now``. Each gets one
   ``reminder.overdue``; ``overdue_sent_for`` (and ``due_soon_sent_for``, if still empty: a
   due-soon reminder that was never sent is pointless once the task is overdue) := ``due_at``.
2. **due soon**: rows still owing a due-soon reminder with ``now < due_at <= now + window``.

Each step reads a partial index that holds only the rows still owing that reminder, claims a
batch with ``FOR UPDATE SKIP LOCKED`` and writes the outbox rows and the marks in one
transaction: a reminder is emitted exactly once per task and due date, even if two scans run
at once (and normally only one runs: see :mod:`scheduler.scanner`). A consumer changing the
task meanwhile waits for the row lock, then re-arms or cancels as its event says."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from contracts.events import Reminder
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.db import publisher
from scheduler.models import DUE_SOON_PENDING, OVERDUE_PENDING
from scheduler.models import tracked_tasks as t


@dataclass
class ScanResult:
    due_soon: int = 0
    overdue: int = 0
    task_ids: dict[str, list[uuid.UUID]] = field(
        default_factory=lambda: {"due_soon": [], "overdue": []})


async def _emit_batch(session: AsyncSession, kind: str, *, now: datetime,
                      window: timedelta, limit: int, correlation_id: str
                      ) -> list[uuid.UUID]:
    bounds: list[sa.ColumnElement[bool]]
    if kind == "overdue":
        predicate, bounds = OVERDUE_PENDING, [t.c.due_at <= now]
    else:
        predicate, bounds = DUE_SOON_PENDING, [t.c.due_at > now, t.c.due_at <= now + window]
    rows = (await session.execute(
        sa.select(t.c.task_id, t.c.project_id, t.c.title, t.c.assignee_id, t.c.due_at)
        .where(sa.text(predicate), *bounds)
        .order_by(t.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True))).all()
    if not rows:
        return []
    # One insert and one NOTIFY (waking the relay at commit) for the whole batch.
    await publisher.publish_many(session, [(f"reminder.{kind}", Reminder(
        task_id=row.task_id, project_id=row.project_id, task_title=row.title,
        assignee_id=row.assignee_id, due_at=row.due_at)) for row in rows],
        actor_id=None, correlation_id=correlation_id)
    ids = [row.task_id for row in rows]
    marks = ({"overdue_sent_for": t.c.due_at,
              "due_soon_sent_for": sa.func.coalesce(t.c.due_soon_sent_for, t.c.due_at)}
             if kind == "overdue" else {"due_soon_sent_for": t.c.due_at})
    await session.execute(t.update().where(t.c.task_id.in_(ids)).values(**marks))
    return ids


async def scan_once(sessions: async_sessionmaker[AsyncSession], *, now: datetime,
                    window: timedelta, batch_size: int = 1000) -> ScanResult:
    """One full scan at ``now`` (inject any instant: tests move time without sleeping)."""
    result = ScanResult()
    correlation_id = f"scan-{uuid.uuid4()}"
    for kind in ("overdue", "due_soon"):
        while True:
            async with sessions() as session, session.begin():
                ids = await _emit_batch(session, kind, now=now, window=window,
                                        limit=batch_size, correlation_id=correlation_id)
            result.task_ids[kind] += ids
            if len(ids) < batch_size:
                break
    result.due_soon = len(result.task_ids["due_soon"])
    result.overdue = len(result.task_ids["overdue"])
    return result
