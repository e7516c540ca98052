"""The notifier consumer (the ``consumer`` role of ``python -m chassis.serve notifier``):
group ``notifier`` on ``identity.events``, ``workspace.events``, ``boards.events`` and
``scheduler.events``.

Each handler runs inside the consumer's idempotency transaction (``processed_events``): read
models are updated, notifications and their e-mail rows are written, and the mailer is woken
by a NOTIFY delivered at commit. Nothing here talks to SMTP."""

from __future__ import annotations

from chassis.consumer import EventConsumer, Handler
from chassis.read_model import payload_handler
from contracts.events import (
    CommentChanged,
    Envelope,
    ProjectMemberAdded,
    Reminder,
    TaskSnapshot,
    TeamMemberAdded,
)
from contracts.streams import BOARDS_EVENTS, IDENTITY_EVENTS, SCHEDULER_EVENTS, WORKSPACE_EVENTS
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.config import NotifierSettings
from notifier.db import processed_events
from notifier.service import rules
from notifier.service.directory import directory
from notifier.service.notify import deliver
from notifier.service.tasks import apply_snapshot, mark_deleted

GROUP = "notifier"
STREAMS = [IDENTITY_EVENTS, WORKSPACE_EVENTS, BOARDS_EVENTS, SCHEDULER_EVENTS]

TASK_SNAPSHOT_EVENTS = ("task.updated", "task.moved", "task.unassigned",
                        "task.due_date_changed")


def make_handlers(settings: NotifierSettings) -> dict[str, Handler]:
    host = settings.message_id_host

    async def on_member_added(session: AsyncSession, envelope: Envelope) -> None:
        """``team.member_added`` / ``project.member_added``: the directory learns the
        member's address and name from the event itself, and the member is told."""
        member = envelope.payload()
        assert isinstance(member, TeamMemberAdded | ProjectMemberAdded)
        await directory.upsert(session, member.user_id, email=member.email,
                               full_name=member.full_name, as_of=envelope.occurred_at)
        drafts = (await rules.team_member_added(session, envelope, member)
                  if isinstance(member, TeamMemberAdded)
                  else await rules.project_member_added(session, envelope, member))
        await deliver(session, envelope, drafts, message_id_host=host)

    async def on_task_assigned(session: AsyncSession, envelope: Envelope) -> None:
        """``task.assigned``, and ``task.created`` when the new task has an assignee."""
        task = envelope.payload()
        assert isinstance(task, TaskSnapshot)
        await apply_snapshot(session, task)
        await deliver(session, envelope, await rules.task_assigned(session, envelope, task),
                      message_id_host=host)

    async def on_comment_created(session: AsyncSession, envelope: Envelope) -> None:
        comment = envelope.payload()
        assert isinstance(comment, CommentChanged)
        await deliver(session, envelope,
                      await rules.comment_created(session, envelope, comment),
                      message_id_host=host)

    async def on_reminder(session: AsyncSession, envelope: Envelope) -> None:
        reminder = envelope.payload()
        assert isinstance(reminder, Reminder)
        await deliver(session, envelope, await rules.reminder(session, envelope, reminder),
                      message_id_host=host)

    return {
        "user.registered": directory.on_user_event,
        "user.updated": directory.on_user_event,
        "team.member_added": on_member_added,
        "project.member_added": on_member_added,
        "task.created": on_task_assigned,
        "task.assigned": on_task_assigned,
        **dict.fromkeys(TASK_SNAPSHOT_EVENTS, payload_handler(TaskSnapshot, apply_snapshot)),
        "task.deleted": payload_handler(TaskSnapshot, mark_deleted),
        "comment.created": on_comment_created,
        "reminder.due_soon": on_reminder,
        "reminder.overdue": on_reminder,
    }


def build_consumer(settings: NotifierSettings | None = None, *,
                   consumer_name: str | None = None) -> EventConsumer:
    settings = settings or NotifierSettings()
    return EventConsumer(group=GROUP, streams=STREAMS, handlers=make_handlers(settings),
                         processed_events=processed_events, settings=settings,
                         consumer_name=consumer_name)
