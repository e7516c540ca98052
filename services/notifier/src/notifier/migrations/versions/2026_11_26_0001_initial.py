"""initial: users, tasks (read models), preferences, notifications, email_outbox,
processed_events

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from chassis.migrations import create_processed_events
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "notifier"
TYPES = ("task_assigned", "due_soon", "overdue", "comment", "membership")


def _now() -> sa.sql.elements.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
        schema=SCHEMA,
    )
    op.create_table(
        "tasks",
        sa.Column("task_id", UUID(as_uuid=True), nullable=False),
        sa.Column("project_id", UUID(as_uuid=True), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("assignee_id", UUID(as_uuid=True), nullable=True),
        sa.Column("created_by", UUID(as_uuid=True), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("task_id", name="pk_tasks"),
        schema=SCHEMA,
    )
    op.create_table(
        "preferences",
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        *[sa.Column(f"email_{kind}", sa.Boolean, nullable=False, server_default=sa.true())
          for kind in TYPES],
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=_now()),
        sa.PrimaryKeyConstraint("user_id", name="pk_preferences"),
        schema=SCHEMA,
    )
    op.create_table(
        "notifications",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("dedupe_key", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("event_id", "user_id", name="uq_notifications_event_id_user_id"),
        sa.UniqueConstraint("user_id", "dedupe_key", name="uq_notifications_user_id_dedupe_key"),
        sa.CheckConstraint(f"type IN {TYPES!r}", name="ck_notifications_type_known"),
        schema=SCHEMA,
    )
    op.create_index("ix_notifications_user_id_created_at_id", "notifications",
                    ["user_id", sa.text("created_at DESC"), sa.text("id DESC")], schema=SCHEMA)
    op.create_index("ix_notifications_unread", "notifications",
                    ["user_id", sa.text("created_at DESC"), sa.text("id DESC")], schema=SCHEMA,
                    postgresql_where=sa.text("read_at IS NULL"))
    op.create_table(
        "email_outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("notification_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=_now()),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("to_address", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=_now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=_now()),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_email_outbox"),
        sa.ForeignKeyConstraint(["notification_id"], [f"{SCHEMA}.notifications.id"],
                                ondelete="CASCADE",
                                name="fk_email_outbox_notification_id_notifications"),
        sa.UniqueConstraint("notification_id", name="uq_email_outbox_notification_id"),
        sa.UniqueConstraint("message_id", name="uq_email_outbox_message_id"),
        sa.UniqueConstraint("event_id", "user_id", name="uq_email_outbox_event_id_user_id"),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')",
                           name="ck_email_outbox_status_known"),
        schema=SCHEMA,
    )
    op.create_index("ix_email_outbox_due", "email_outbox", ["next_attempt_at"], schema=SCHEMA,
                    postgresql_where=sa.text("status IN ('pending', 'sending')"))
    create_processed_events(SCHEMA)


def downgrade() -> None:
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_table("email_outbox", schema=SCHEMA)
    op.drop_table("notifications", schema=SCHEMA)
    op.drop_table("preferences", schema=SCHEMA)
    op.drop_table("tasks", schema=SCHEMA)
    op.drop_table("users", schema=SCHEMA)
