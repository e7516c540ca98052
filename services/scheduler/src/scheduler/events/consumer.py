"""The scheduler consumer (the ``consumer`` role of ``python -m chassis.serve scheduler``):
group ``scheduler`` on ``boards.events`` (task snapshots; list and board deletions) and
``workspace.events`` (project deletions), keeping ``tracked_tasks`` current."""

from __future__ import annotations

from chassis.consumer import EventConsumer, Handler
from chassis.read_model import payload_handler
from contracts.events import BoardChanged, ListChanged, ProjectDeleted, TaskSnapshot
from contracts.streams import BOARDS_EVENTS, WORKSPACE_EVENTS

from scheduler.config import SchedulerSettings
from scheduler.db import processed_events
from scheduler.service.tracking import apply_snapshot, delete_where, mark_deleted

GROUP = "scheduler"
STREAMS = [BOARDS_EVENTS, WORKSPACE_EVENTS]

SNAPSHOT_EVENTS = ("task.created", "task.updated", "task.assigned", "task.unassigned",
                   "task.due_date_changed", "task.moved")

HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(SNAPSHOT_EVENTS, payload_handler(TaskSnapshot, apply_snapshot)),
    "task.deleted": payload_handler(TaskSnapshot, mark_deleted),
    # A deleted list, board or project takes its tasks with it.
    "list.deleted": payload_handler(
        ListChanged, lambda session, gone: delete_where(session, list_id=gone.list_id)),
    "board.deleted": payload_handler(
        BoardChanged, lambda session, gone: delete_where(session, board_id=gone.board_id)),
    "project.deleted": payload_handler(
        ProjectDeleted, lambda session, gone: delete_where(session, project_id=gone.project_id)),
}


def build_consumer(settings: SchedulerSettings | None = None, *,
                   consumer_name: str | None = None) -> EventConsumer:
    return EventConsumer(group=GROUP, streams=STREAMS, handlers=HANDLERS,
                         processed_events=processed_events,
                         settings=settings or SchedulerSettings(), consumer_name=consumer_name)
