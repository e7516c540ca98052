"""Tables of the scheduler (SQLAlchemy Core, on the service's metadata).

``tracked_tasks`` is the scheduler's read model of boards' tasks: what a reminder needs
(title, project, assignee, due date) plus, per reminder kind, the due date it was last sent
for. A changed due date clears both, which re-arms them. Two partial indexes hold exactly the
rows that still owe a reminder, so a scan reads only those, whatever the table's size."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from scheduler.db import metadata, outbox, processed_events

__all__ = ["DUE_SOON_PENDING", "OVERDUE_PENDING", "metadata", "outbox", "processed_events",
           "tracked_tasks"]

# The rows that may owe a reminder: live, assigned, with a due date, not yet reminded.
_ARMED = "NOT deleted AND assignee_id IS NOT NULL AND due_at IS NOT NULL"
DUE_SOON_PENDING = f"{_ARMED} AND due_soon_sent_for IS NULL"
OVERDUE_PENDING = f"{_ARMED} AND overdue_sent_for IS NULL"

tracked_tasks = sa.Table(
    "tracked_tasks", metadata,
    sa.Column("task_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("project_id", UUID(as_uuid=True), nullable=False),
    sa.Column("board_id", UUID(as_uuid=True), nullable=False),
    sa.Column("list_id", UUID(as_uuid=True), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("assignee_id", UUID(as_uuid=True), nullable=True),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    # boards' task version: an older snapshot never overwrites a newer one.
    sa.Column("version", sa.Integer, nullable=False),
    # A tombstone: a late event about a deleted task cannot bring it back.
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    # The due_at a reminder was sent for (NULL: not sent for the current due date).
    sa.Column("due_soon_sent_for", sa.DateTime(timezone=True), nullable=True),
    sa.Column("overdue_sent_for", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Index("ix_tracked_tasks_due_soon_pending", "due_at",
             postgresql_where=sa.text(DUE_SOON_PENDING)),
    sa.Index("ix_tracked_tasks_overdue_pending", "due_at",
             postgresql_where=sa.text(OVERDUE_PENDING)),
    # For list/board/project deletions.
    sa.Index("ix_tracked_tasks_list_id", "list_id"),
    sa.Index("ix_tracked_tasks_board_id", "board_id"),
    sa.Index("ix_tracked_tasks_project_id", "project_id"),
)
