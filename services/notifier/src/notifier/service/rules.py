"""Who is told what: one function per event type, turning an event into :class:`Draft` s.

In-app notifications are always made; the e-mail follows the recipient's preferences (see
:mod:`notifier.service.notify`, which also drops the actor of the event)."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.events import (
    CommentChanged,
    Envelope,
    ProjectMemberAdded,
    Reminder,
    TaskSnapshot,
    TeamMemberAdded,
)
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.service.directory import display_name
from notifier.service.notify import Draft
from notifier.service.tasks import get_task

COMMENT_EXCERPT = 280


def when(moment: datetime) -> str:
    """A due date for a sentence: ``2026-11-27 14:00 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def excerpt(text: str, limit: int = COMMENT_EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def task_assigned(session: AsyncSession, envelope: Envelope,
                        task: TaskSnapshot) -> list[Draft]:
    """The new assignee (``task.assigned``, or ``task.created`` with an assignee)."""
    if task.assignee_id is None:
        return []
    actor = await display_name(session, envelope.actor_id)
    due = f" It is due {when(task.due_at)}." if task.due_at else ""
    return [Draft(
        user_id=task.assignee_id, type="task_assigned",
        title=f'You were assigned "{task.title}"',
        body=f'{actor} assigned you the task "{task.title}".{due}',
        data={"task_id": str(task.task_id), "project_id": str(task.project_id),
              "board_id": str(task.board_id), "list_id": str(task.list_id),
              "task_title": task.title, "due_at": iso(task.due_at),
              "assigned_by": str(envelope.actor_id) if envelope.actor_id else None},
        # task.created (with an assignee) and task.assigned of the same task version are
        # the same fact: told once.
        dedupe_key=f"task_assigned:{task.task_id}:{task.version}")]


async def reminder(session: AsyncSession, envelope: Envelope, payload: Reminder) -> list[Draft]:
    """``reminder.due_soon`` / ``reminder.overdue``: the assignee the scheduler names.

    Skipped if this service has already seen the task deleted (the reminder raced the
    deletion); other changes are the scheduler's business (it re-arms and cancels)."""
    known = await get_task(session, payload.task_id)
    if known is not None and known.deleted:
        return []
    data = {"task_id": str(payload.task_id), "project_id": str(payload.project_id),
            "task_title": payload.task_title, "due_at": iso(payload.due_at)}
    if envelope.type == "reminder.due_soon":
        return [Draft(user_id=payload.assignee_id, type="due_soon",
                      title=f'"{payload.task_title}" is due soon',
                      body=f'Your task "{payload.task_title}" is due {when(payload.due_at)}.',
                      data=data)]
    return [Draft(user_id=payload.assignee_id, type="overdue",
                  title=f'"{payload.task_title}" is overdue',
                  body=f'Your task "{payload.task_title}" was due {when(payload.due_at)}.',
                  data=data)]


async def comment_created(session: AsyncSession, envelope: Envelope,
                          comment: CommentChanged) -> list[Draft]:
    """The task's assignee and creator, never the comment's author, nor a creator who has
    left the project since (they can no longer see the task)."""
    author = await display_name(session, comment.author_id)
    data = {"task_id": str(comment.task_id), "project_id": str(comment.project_id),
            "comment_id": str(comment.comment_id), "author_id": str(comment.author_id),
            "task_title": comment.task_title}
    creator = comment.task_created_by if comment.task_creator_in_project else None
    recipients = [u for u in (comment.task_assignee_id, creator)
                  if u is not None and u != comment.author_id]
    return [Draft(user_id=user_id, type="comment",
                  title=f'New comment on "{comment.task_title}"',
                  body=f"{author}: {excerpt(comment.body)}" if comment.body
                  else f'{author} commented on "{comment.task_title}".',
                  data=data)
            for user_id in dict.fromkeys(recipients)]


async def team_member_added(session: AsyncSession, envelope: Envelope,
                            member: TeamMemberAdded) -> list[Draft]:
    actor = await display_name(session, envelope.actor_id)
    return [Draft(user_id=member.user_id, type="membership",
                  title=f'You were added to the team "{member.team_name}"',
                  body=f'{actor} added you to the team "{member.team_name}" as {member.role}.',
                  data={"kind": "team", "team_id": str(member.team_id),
                        "team_name": member.team_name, "role": member.role})]


async def project_member_added(session: AsyncSession, envelope: Envelope,
                               member: ProjectMemberAdded) -> list[Draft]:
    """Explicit project roles only: an implicit admin (team owner/admin) is not "added"."""
    if member.implicit:
        return []
    actor = await display_name(session, envelope.actor_id)
    return [Draft(user_id=member.user_id, type="membership",
                  title=f'You were added to the project "{member.project_name}"',
                  body=(f'{actor} added you to the project "{member.project_name}" '
                        f"as {member.role}."),
                  data={"kind": "project", "project_id": str(member.project_id),
                        "team_id": str(member.team_id),
                        "project_name": member.project_name, "role": member.role})]
