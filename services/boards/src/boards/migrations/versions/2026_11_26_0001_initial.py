"""initial: read models (projects, project_members, users), boards, lists, tasks, comments,
activity, outbox, processed_events

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from chassis.migrations import create_outbox, create_processed_events
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "boards"


def _uuid(name: str, nullable: bool = False) -> sa.Column[uuid.UUID]:
    return sa.Column(name, UUID(as_uuid=True), nullable=nullable)


def _time(name: str, nullable: bool = False, default: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def upgrade() -> None:
    # --- read models ----------------------------------------------------------------------
    op.create_table(
        "projects",
        _uuid("id"), _uuid("team_id"),
        sa.Column("name", sa.Text, nullable=False),
        _time("deleted_at", nullable=True, default=False),
        _time("changed_at", default=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        schema=SCHEMA,
    )
    op.create_index("ix_projects_team_id", "projects", ["team_id"], schema=SCHEMA)
    op.create_table(
        "project_members",
        _uuid("project_id"), _uuid("user_id"), _uuid("team_id"),
        sa.Column("role", sa.Text, nullable=True),
        sa.Column("implicit", sa.Boolean, nullable=False, server_default=sa.false()),
        _time("changed_at", default=False),
        sa.PrimaryKeyConstraint("project_id", "user_id", name="pk_project_members"),
        sa.CheckConstraint("role IN ('admin', 'editor', 'viewer')",
                           name="ck_project_members_role"),
        schema=SCHEMA,
    )
    op.create_index("ix_project_members_user_id", "project_members", ["user_id"],
                    schema=SCHEMA)
    op.create_index("ix_project_members_team_id", "project_members", ["team_id"],
                    schema=SCHEMA)
    op.create_table(
        "users",
        _uuid("id"),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        _time("changed_at", default=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        schema=SCHEMA,
    )

    # --- owned data -----------------------------------------------------------------------
    op.create_table(
        "boards",
        _uuid("id"), _uuid("project_id"),
        sa.Column("name", sa.Text, nullable=False),
        _uuid("created_by"), _time("created_at"), _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_boards"),
        schema=SCHEMA,
    )
    op.create_index("ix_boards_project_id_created_at_id", "boards",
                    ["project_id", "created_at", "id"], schema=SCHEMA)
    op.create_table(
        "lists",
        _uuid("id"), _uuid("board_id"), _uuid("project_id"),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("position", sa.Text(collation="C"), nullable=False),
        sa.Column("wip_limit", sa.Integer, nullable=True),
        _time("created_at"), _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_lists"),
        sa.ForeignKeyConstraint(["board_id"], [f"{SCHEMA}.boards.id"], ondelete="CASCADE",
                                name="fk_lists_board_id_boards"),
        sa.UniqueConstraint("board_id", "position", deferrable=True, initially="IMMEDIATE",
                            name="uq_lists_board_id_position"),
        sa.CheckConstraint("wip_limit IS NULL OR wip_limit >= 1",
                           name="ck_lists_wip_limit_positive"),
        schema=SCHEMA,
    )
    op.create_index("ix_lists_project_id", "lists", ["project_id"], schema=SCHEMA)
    op.create_index("ix_lists_position_length", "lists", [sa.text("length(position)")],
                    schema=SCHEMA)
    op.create_table(
        "tasks",
        _uuid("id"), _uuid("project_id"), _uuid("board_id"), _uuid("list_id"),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        _uuid("assignee_id", nullable=True),
        _time("due_at", nullable=True, default=False),
        sa.Column("priority", sa.Text, nullable=False, server_default="medium"),
        sa.Column("labels", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("position", sa.Text(collation="C"), nullable=False),
        _uuid("created_by"), _time("created_at"), _time("updated_at"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.ForeignKeyConstraint(["board_id"], [f"{SCHEMA}.boards.id"], ondelete="CASCADE",
                                name="fk_tasks_board_id_boards"),
        sa.ForeignKeyConstraint(["list_id"], [f"{SCHEMA}.lists.id"], ondelete="CASCADE",
                                name="fk_tasks_list_id_lists"),
        sa.UniqueConstraint("list_id", "position", deferrable=True, initially="IMMEDIATE",
                            name="uq_tasks_list_id_position"),
        sa.CheckConstraint("priority IN ('low', 'medium', 'high', 'urgent')",
                           name="ck_tasks_priority"),
        schema=SCHEMA,
    )
    op.create_index("ix_tasks_board_id_created_at_id", "tasks",
                    ["board_id", "created_at", "id"], schema=SCHEMA)
    op.create_index("ix_tasks_project_id_assignee_id", "tasks", ["project_id", "assignee_id"],
                    schema=SCHEMA)
    op.create_index("ix_tasks_assignee_id_created_at_id", "tasks",
                    ["assignee_id", "created_at", "id"], schema=SCHEMA)
    op.create_index("ix_tasks_position_length", "tasks", [sa.text("length(position)")],
                    schema=SCHEMA)
    op.create_table(
        "comments",
        _uuid("id"), _uuid("task_id"), _uuid("project_id"), _uuid("author_id"),
        sa.Column("body", sa.Text, nullable=False),
        _time("created_at"), _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        sa.ForeignKeyConstraint(["task_id"], [f"{SCHEMA}.tasks.id"], ondelete="CASCADE",
                                name="fk_comments_task_id_tasks"),
        schema=SCHEMA,
    )
    op.create_index("ix_comments_project_id", "comments", ["project_id"], schema=SCHEMA)
    op.create_index("ix_comments_task_id_created_at_id", "comments",
                    ["task_id", "created_at", "id"], schema=SCHEMA)
    op.create_table(
        "activity",
        _uuid("id"),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        _uuid("project_id"), _uuid("actor_id", nullable=True),
        sa.Column("verb", sa.Text, nullable=False),
        sa.Column("entity_type", sa.Text, nullable=False),
        _uuid("entity_id"),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("data", JSONB, nullable=False, server_default="{}"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_activity"),
        sa.UniqueConstraint("seq", name="uq_activity_seq"),
        schema=SCHEMA,
    )
    op.create_index("ix_activity_project_id_seq", "activity", ["project_id", "seq"],
                    schema=SCHEMA)
    create_outbox(SCHEMA)
    create_processed_events(SCHEMA)


def downgrade() -> None:
    for table in ("processed_events", "outbox", "activity", "comments", "tasks", "lists",
                  "boards", "users", "project_members", "projects"):
        op.drop_table(table, schema=SCHEMA)
