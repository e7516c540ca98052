"""Tables of the notifier service (SQLAlchemy Core, on the service's metadata).

Read models fed by events: ``users`` (identity's directory: e-mail and name) and ``tasks``
(title and the people of a task, from boards). Own data: ``notifications`` (in-app),
``preferences`` (e-mail switches per type) and ``email_outbox`` (one row per e-mail to send,
written in the same transaction as its notification, drained by the mailer process)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from notifier.db import metadata, processed_events

__all__ = ["NOTIFICATION_TYPES", "email_outbox", "metadata", "notifications", "preferences",
           "processed_events", "tasks", "users"]

NOTIFICATION_TYPES = ("task_assigned", "due_soon", "overdue", "comment", "membership")
EMAIL_STATUSES = ("pending", "sending", "sent", "failed")

users = sa.Table(
    "users", metadata,
    sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("full_name", sa.Text, nullable=False),
    # occurred_at of the event that wrote this copy: an older event never overwrites it.
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
)

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("task_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("project_id", UUID(as_uuid=True), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("assignee_id", UUID(as_uuid=True), nullable=True),
    sa.Column("created_by", UUID(as_uuid=True), nullable=False),
    # The task's version in boards: a snapshot only replaces an older one.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
)

preferences = sa.Table(
    "preferences", metadata,
    sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
    *[sa.Column(f"email_{kind}", sa.Boolean, nullable=False, server_default=sa.true())
      for kind in NOTIFICATION_TYPES],
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)

notifications = sa.Table(
    "notifications", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("data", JSONB, nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # The event that caused it: one notification per (event, recipient).
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
    # Optional semantic key, unique per user: the same fact told by two events (e.g.
    # task.created with an assignee and task.assigned of the same task version) notifies once.
    sa.Column("dedupe_key", sa.Text, nullable=True),
    sa.UniqueConstraint("event_id", "user_id"),
    sa.UniqueConstraint("user_id", "dedupe_key"),
    sa.CheckConstraint(f"type IN {NOTIFICATION_TYPES!r}", name="type_known"),
    sa.Index("ix_notifications_user_id_created_at_id", "user_id", sa.text("created_at DESC"),
             sa.text("id DESC")),
    sa.Index("ix_notifications_unread", "user_id", sa.text("created_at DESC"),
             sa.text("id DESC"), postgresql_where=sa.text("read_at IS NULL")),
)

email_outbox = sa.Table(
    "email_outbox", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("notification_id", UUID(as_uuid=True),
              sa.ForeignKey(notifications.c.id, ondelete="CASCADE"), nullable=False,
              unique=True),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
    sa.Column("user_id", UUID(as_uuid=True), nullable=False),
    # Derived from (event_id, user_id) and fixed at enqueue time: every attempt of this
    # e-mail carries the same Message-ID, so a resend after a crash is recognisably the
    # same message (receivers and MUAs deduplicate on it).
    sa.Column("message_id", sa.Text, nullable=False, unique=True),
    # pending -> sending -> sent | failed (sending -> pending again on a transient error)
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("last_error", sa.Text, nullable=True),
    # The address it went to (resolved from ``users`` at send time).
    sa.Column("to_address", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("event_id", "user_id"),
    sa.CheckConstraint(f"status IN {EMAIL_STATUSES!r}", name="status_known"),
    sa.Index("ix_email_outbox_due", "next_attempt_at",
             postgresql_where=sa.text("status IN ('pending', 'sending')")),
)
