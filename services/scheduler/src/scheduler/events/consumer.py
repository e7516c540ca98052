"""The scheduler consumer (``python -m scheduler.events.consumer``): group ``scheduler`` on
``boards.events`` (task snapshots; list and board deletions) and ``workspace.events``
(project deletions), keeping ``tracked_tasks`` current."""

from __future__ import annotations

from chassis.consumer import EventConsumer, Handler, run_consumer
from contracts.events import BoardChanged, Envelope, ListChanged, ProjectDeleted, TaskSnapshot
from contracts.streams import BOARDS_EVENTS, WORKSPACE_EVENTS
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.config import SchedulerSettings
from scheduler.db import processed_events
from scheduler.service.tracking import apply_snapshot, delete_where, mark_deleted

GROUP = "scheduler"
STREAMS = [BOARDS_EVENTS, WORKSPACE_EVENTS]

SNAPSHOT_EVENTS = ("task.created", "task.updated", "task.assigned", "task.unassigned",
                   "task.due_date_changed", "task.moved")


async def on_task_snapshot(session: AsyncSession, envelope: Envelope) -> None:
    task = envelope.payload()
    assert isinstance(task, TaskSnapshot)
    await apply_snapshot(session, task)


async def on_task_deleted(session: AsyncSession, envelope: Envelope) -> None:
    task = envelope.payload()
    assert isinstance(task, TaskSnapshot)
    await mark_deleted(session, task)


async def on_list_deleted(session: AsyncSession, envelope: Envelope) -> None:
    payload = envelope.payload()
    assert isinstance(payload, ListChanged)
    await delete_where(session, list_id=payload.list_id)


async def on_board_deleted(session: AsyncSession, envelope: Envelope) -> None:
    payload = envelope.payload()
    assert isinstance(payload, BoardChanged)
    await delete_where(session, board_id=payload.board_id)


async def on_project_deleted(session: AsyncSession, envelope: Envelope) -> None:
    payload = envelope.payload()
    assert isinstance(payload, ProjectDeleted)
    await delete_where(session, project_id=payload.project_id)


HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(SNAPSHOT_EVENTS, on_task_snapshot),
    "task.deleted": on_task_deleted,
    "list.deleted": on_list_deleted,
    "board.deleted": on_board_deleted,
    "project.deleted": on_project_deleted,
}


def build_consumer(settings: SchedulerSettings | None = None, *,
                   consumer_name: str | None = None) -> EventConsumer:
    return EventConsumer(group=GROUP, streams=STREAMS, handlers=HANDLERS,
                         processed_events=processed_events,
                         settings=settings or SchedulerSettings(), consumer_name=consumer_name)


def main() -> None:
    run_consumer(build_consumer(), "scheduler")


if __name__ == "__main__":
    main()
