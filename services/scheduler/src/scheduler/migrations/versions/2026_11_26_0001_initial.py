"""initial: tracked_tasks with partial indexes of pending reminders, outbox, processed_events

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from chassis.migrations import create_outbox, create_processed_events
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "scheduler"
ARMED = "NOT deleted AND assignee_id IS NOT NULL AND due_at IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "tracked_tasks",
        sa.Column("task_id", UUID(as_uuid=True), nullable=False),
        sa.Column("project_id", UUID(as_uuid=True), nullable=False),
        sa.Column("board_id", UUID(as_uuid=True), nullable=False),
        sa.Column("list_id", UUID(as_uuid=True), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("assignee_id", UUID(as_uuid=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("due_soon_sent_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_sent_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("task_id", name="pk_tracked_tasks"),
        schema=SCHEMA,
    )
    op.create_index("ix_tracked_tasks_due_soon_pending", "tracked_tasks", ["due_at"],
                    schema=SCHEMA,
                    postgresql_where=sa.text(f"{ARMED} AND due_soon_sent_for IS NULL"))
    op.create_index("ix_tracked_tasks_overdue_pending", "tracked_tasks", ["due_at"],
                    schema=SCHEMA,
                    postgresql_where=sa.text(f"{ARMED} AND overdue_sent_for IS NULL"))
    op.create_index("ix_tracked_tasks_list_id", "tracked_tasks", ["list_id"], schema=SCHEMA)
    op.create_index("ix_tracked_tasks_board_id", "tracked_tasks", ["board_id"], schema=SCHEMA)
    op.create_index("ix_tracked_tasks_project_id", "tracked_tasks", ["project_id"],
                    schema=SCHEMA)
    create_outbox(SCHEMA)
    create_processed_events(SCHEMA)


def downgrade() -> None:
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_table("tracked_tasks", schema=SCHEMA)
