"""Tables of the boards service (SQLAlchemy Core, on the service's metadata).

Ranks (``position``) use the "C" collation, so PostgreSQL orders them byte-wise, exactly
like :mod:`boards.domain.rank` and like any client comparing the strings.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from boards.db import metadata, outbox, processed_events

__all__ = ["activity", "boards", "comments", "lists", "metadata", "outbox",
           "processed_events", "project_members", "projects", "tasks", "users"]

Rank = sa.Text(collation="C")


def _timestamps() -> list[sa.Column[datetime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    ]


# --- read models fed by workspace.events and identity.events ----------------------------

projects = sa.Table(
    "projects", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("team_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    # A tombstone: the project was deleted (late membership events for it are ignored).
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    # occurred_at of the newest event applied (events may arrive out of order).
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

project_members = sa.Table(
    "project_members", metadata,
    sa.Column("project_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), primary_key=True, index=True),
    sa.Column("team_id", UUID(as_uuid=True), nullable=False, index=True),
    # Effective role; NULL = removed (kept so an older, late "added" event cannot revive it).
    sa.Column("role", sa.Text, nullable=True),
    sa.Column("implicit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'editor', 'viewer')", name="role"),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("full_name", sa.Text, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

# --- owned data -----------------------------------------------------------------------------

boards = sa.Table(
    "boards", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("project_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_by", UUID(as_uuid=True), nullable=False),
    *_timestamps(),
    sa.Index("ix_boards_project_id_created_at_id", "project_id", "created_at", "id"),
)

lists = sa.Table(
    "lists", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("board_id", UUID(as_uuid=True), sa.ForeignKey(boards.c.id, ondelete="CASCADE"),
              nullable=False),
    sa.Column("project_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("position", Rank, nullable=False),
    sa.Column("wip_limit", sa.Integer, nullable=True),
    *_timestamps(),
    # Ranks never collide; deferrable so a rebalance may rewrite a whole board at once.
    sa.UniqueConstraint("board_id", "position", deferrable=True, initially="IMMEDIATE"),
    sa.CheckConstraint("wip_limit IS NULL OR wip_limit >= 1", name="wip_limit_positive"),
)

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("project_id", UUID(as_uuid=True), nullable=False),
    sa.Column("board_id", UUID(as_uuid=True), sa.ForeignKey(boards.c.id, ondelete="CASCADE"),
              nullable=False),
    sa.Column("list_id", UUID(as_uuid=True), sa.ForeignKey(lists.c.id, ondelete="CASCADE"),
              nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("assignee_id", UUID(as_uuid=True), nullable=True),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("priority", sa.Text, nullable=False, server_default="medium"),
    sa.Column("labels", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("position", Rank, nullable=False),
    sa.Column("created_by", UUID(as_uuid=True), nullable=False),
    *_timestamps(),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("list_id", "position", deferrable=True, initially="IMMEDIATE"),
    sa.CheckConstraint("priority IN ('low', 'medium', 'high', 'urgent')", name="priority"),
    sa.Index("ix_tasks_board_id_created_at_id", "board_id", "created_at", "id"),
    sa.Index("ix_tasks_project_id_assignee_id", "project_id", "assignee_id"),
    sa.Index("ix_tasks_assignee_id_created_at_id", "assignee_id", "created_at", "id"),
)

comments = sa.Table(
    "comments", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("task_id", UUID(as_uuid=True), sa.ForeignKey(tasks.c.id, ondelete="CASCADE"),
              nullable=False),
    sa.Column("project_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("author_id", UUID(as_uuid=True), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    *_timestamps(),
    sa.Index("ix_comments_task_id_created_at_id", "task_id", "created_at", "id"),
)

activity = sa.Table(
    "activity", metadata,
    # The id of the event that caused the entry (one entry per event).
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    # Insertion order: entries of one transaction share created_at, seq still orders them.
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    sa.Column("project_id", UUID(as_uuid=True), nullable=False),
    sa.Column("actor_id", UUID(as_uuid=True), nullable=True),
    sa.Column("verb", sa.Text, nullable=False),
    sa.Column("entity_type", sa.Text, nullable=False),
    sa.Column("entity_id", UUID(as_uuid=True), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("data", JSONB, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Index("ix_activity_project_id_seq", "project_id", "seq"),
)

# Finds the lists/boards whose ranks grew long, for the background rebalancer.
sa.Index("ix_tasks_position_length", sa.func.length(tasks.c.position))
sa.Index("ix_lists_position_length", sa.func.length(lists.c.position))
