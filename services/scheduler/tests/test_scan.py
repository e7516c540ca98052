"""Tracking tasks from events and the reminder scan, with the clock driven by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from contracts.events import parse_event
from scheduler.service.scan import scan_once

from services.scheduler.tests.scheduler_helpers import Task, reminder_payload, reminders

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)


async def scan(sessions, at: datetime):
    return await scan_once(sessions, now=at, window=WINDOW)


async def test_a_task_due_in_an_hour_gets_one_due_soon_then_one_overdue(
        process, sessions, outbox):
    task = Task(due_at=T0 + timedelta(hours=1), title="Renew the certificate")
    await process(task.created())

    first = await scan(sessions, T0)
    assert (first.due_soon, first.overdue) == (1, 0)
    [soon] = reminders(outbox(), "due_soon")
    envelope = parse_event(soon)
    assert envelope.producer == "scheduler" and envelope.actor_id is None
    payload = reminder_payload(soon)
    assert payload.task_id == task.task_id and payload.assignee_id == task.assignee_id
    assert payload.due_at == task.due_at and payload.task_title == "Renew the certificate"
    assert payload.project_id == task.project_id
    assert {row["stream"] for row in outbox()} == {"scheduler.events"}

    # Again and again within the hour: nothing more.
    for minutes in (0, 10, 59):
        again = await scan(sessions, T0 + timedelta(minutes=minutes))
        assert (again.due_soon, again.overdue) == (0, 0)

    passed = await scan(sessions, T0 + timedelta(hours=1, seconds=1))
    assert (passed.due_soon, passed.overdue) == (0, 1)
    later = await scan(sessions, T0 + timedelta(days=3))
    assert (later.due_soon, later.overdue) == (0, 0)
    assert len(reminders(outbox(), "due_soon")) == 1
    assert len(reminders(outbox(), "overdue")) == 1


async def test_nothing_before_the_window_opens(process, sessions, outbox):
    task = Task(due_at=T0 + timedelta(hours=30))
    await process(task.created())
    assert (await scan(sessions, T0)).due_soon == 0
    assert (await scan(sessions, T0 + timedelta(hours=5, minutes=59))).due_soon == 0
    assert (await scan(sessions, T0 + timedelta(hours=6))).due_soon == 1  # due_at == now+24h
    assert len(outbox()) == 1


async def test_a_task_first_seen_overdue_gets_only_the_overdue_reminder(
        process, sessions, outbox):
    task = Task(due_at=T0 - timedelta(minutes=5))
    await process(task.created())
    result = await scan(sessions, T0)
    assert (result.due_soon, result.overdue) == (0, 1)
    assert (await scan(sessions, T0 + timedelta(hours=1))).overdue == 0
    assert reminders(outbox(), "due_soon") == []


async def test_changing_the_due_date_re_arms_both_reminders(process, sessions, outbox):
    task = Task(due_at=T0 + timedelta(hours=1))
    await process(task.created())
    await scan(sessions, T0)
    await scan(sessions, T0 + timedelta(hours=2))  # overdue sent
    assert len(outbox()) == 2

    new_due = T0 + timedelta(hours=5)
    await process(task.set_due(new_due))
    result = await scan(sessions, T0 + timedelta(hours=2, minutes=1))
    assert (result.due_soon, result.overdue) == (1, 0)
    result = await scan(sessions, T0 + timedelta(hours=6))
    assert (result.due_soon, result.overdue) == (0, 1)
    soon = [reminder_payload(e) for e in reminders(outbox(), "due_soon")]
    assert [r.due_at for r in soon] == [T0 + timedelta(hours=1), new_due]

    # An edit that does not touch the due date does not re-arm anything.
    await process(task.rename("Renamed"))
    result = await scan(sessions, T0 + timedelta(hours=7))
    assert (result.due_soon, result.overdue) == (0, 0)


async def test_moving_the_due_date_before_the_reminder_only_reminds_for_the_new_one(
        process, sessions, outbox):
    task = Task(due_at=T0 + timedelta(hours=2))
    await process(task.created(), task.set_due(T0 + timedelta(hours=3)))
    assert (await scan(sessions, T0)).due_soon == 1
    [soon] = reminders(outbox(), "due_soon")
    assert soon["data"]["due_at"] == "2030-03-01T12:00:00Z"


async def test_unassigning_cancels_and_reassigning_arms_again(process, sessions, outbox):
    task = Task(due_at=T0 + timedelta(hours=1))
    await process(task.created(), task.assign(None))
    assert (await scan(sessions, T0)).due_soon == 0
    assert (await scan(sessions, T0 + timedelta(hours=2))).overdue == 0
    assert outbox() == []
    # No assignee, no reminder; a new assignee gets what is still owed (overdue by now).
    newcomer = task.assign(task.created_by)
    await process(newcomer)
    result = await scan(sessions, T0 + timedelta(hours=2))
    assert (result.due_soon, result.overdue) == (0, 1)
    [overdue] = reminders(outbox(), "overdue")
    assert overdue["data"]["assignee_id"] == str(task.created_by)


async def test_a_task_without_due_date_or_assignee_is_never_reminded(process, sessions, outbox):
    await process(Task(due_at=None).created(),
                  Task(due_at=T0 + timedelta(hours=1), assignee_id=None).created())
    result = await scan(sessions, T0 + timedelta(hours=2))
    assert (result.due_soon, result.overdue) == (0, 0)


async def test_deleting_the_task_or_its_list_board_or_project_cancels(
        process, sessions, outbox):
    tasks = [Task(due_at=T0 + timedelta(hours=1)) for _ in range(4)]
    await process(*[t.created() for t in tasks])
    await process(tasks[0].deleted(), tasks[1].list_deleted(), tasks[2].board_deleted(),
                  tasks[3].project_deleted())
    result = await scan(sessions, T0)
    assert (result.due_soon, result.overdue) == (0, 0)
    assert (await scan(sessions, T0 + timedelta(hours=2))).overdue == 0


async def test_events_out_of_order_and_after_deletion_do_not_roll_back(
        process, sessions, outbox, db):
    task = Task(due_at=T0 + timedelta(hours=1))
    created = task.created()
    moved_later = task.set_due(T0 + timedelta(hours=10))
    await process(moved_later, created)  # the newer snapshot first
    with db.connect() as conn:
        due = conn.execute(sa.text("SELECT due_at FROM scheduler.tracked_tasks "
                                   "WHERE task_id = :t"), {"t": task.task_id}).scalar_one()
    assert due == T0 + timedelta(hours=10)
    # A late update after deletion does not resurrect the task.
    deleted = task.deleted()
    late = task.rename("zombie")
    await process(deleted, late)
    assert (await scan(sessions, T0 + timedelta(hours=9, minutes=30))).due_soon == 0


async def test_a_duplicate_event_is_applied_once(process):
    task = Task(due_at=T0)
    event = task.created()
    assert await process(event, event) == [True, False]


async def test_many_due_tasks_are_emitted_in_batches_each_exactly_once(
        process, sessions, outbox):
    tasks = [Task(due_at=T0 + timedelta(minutes=i + 1)) for i in range(25)]
    await process(*[t.created() for t in tasks])
    result = await scan_once(sessions, now=T0, window=WINDOW, batch_size=7)
    assert result.due_soon == 25
    assert sorted(r["data"]["task_id"] for r in reminders(outbox(), "due_soon")) == \
        sorted(str(t.task_id) for t in tasks)
    assert (await scan_once(sessions, now=T0, window=WINDOW, batch_size=7)).due_soon == 0


async def test_two_concurrent_scans_emit_each_reminder_once(process, sessions, outbox):
    import asyncio
    tasks = [Task(due_at=T0 + timedelta(minutes=i + 1)) for i in range(40)]
    await process(*[t.created() for t in tasks])
    results = await asyncio.gather(*[scan_once(sessions, now=T0, window=WINDOW, batch_size=5)
                                     for _ in range(3)])
    assert sum(r.due_soon for r in results) == 40
    assert len(reminders(outbox(), "due_soon")) == 40


def test_the_scan_queries_use_the_partial_indexes(db):
    """The scan's predicates match the partial indexes (checked with seq scans disabled,
    since a tiny table would be seq-scanned anyway)."""
    from scheduler.models import DUE_SOON_PENDING, OVERDUE_PENDING
    from scheduler.models import tracked_tasks as t
    from sqlalchemy.dialects import postgresql
    now = T0
    queries = {
        "ix_tracked_tasks_overdue_pending": sa.select(t.c.task_id).where(
            sa.text(OVERDUE_PENDING), t.c.due_at <= now).order_by(t.c.due_at),
        "ix_tracked_tasks_due_soon_pending": sa.select(t.c.task_id).where(
            sa.text(DUE_SOON_PENDING), t.c.due_at > now, t.c.due_at <= now + WINDOW
        ).order_by(t.c.due_at),
    }
    with db.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for index, query in queries.items():
            sql = str(query.compile(dialect=postgresql.dialect(),
                                    compile_kwargs={"literal_binds": True}))
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}"))
            assert index in plan, plan
