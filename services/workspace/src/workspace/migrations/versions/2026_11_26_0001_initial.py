"""initial: user directory, teams, members, projects, project members, outbox, processed events

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from chassis.migrations import create_outbox, create_processed_events
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "workspace"


def _now(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False,
                     server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "user_directory",
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_directory"),
        schema=SCHEMA,
    )
    op.create_index("ix_user_directory_email", "user_directory", ["email"], schema=SCHEMA)

    op.create_table(
        "teams",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        schema=SCHEMA,
    )

    op.create_table(
        "team_members",
        sa.Column("team_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        _now("joined_at"),
        _now("role_since"),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_team_members"),
        sa.ForeignKeyConstraint(["team_id"], [f"{SCHEMA}.teams.id"], ondelete="CASCADE",
                                name="fk_team_members_team_id_teams"),
        sa.CheckConstraint("role IN ('owner', 'admin', 'member')", name="ck_team_members_role"),
        schema=SCHEMA,
    )
    op.create_index("ix_team_members_user_id", "team_members", ["user_id"], schema=SCHEMA)
    # Exactly one owner: at most one here, and the service never leaves a team without one.
    op.create_index("uq_team_members_one_owner", "team_members", ["team_id"], unique=True,
                    postgresql_where=sa.text("role = 'owner'"), schema=SCHEMA)

    op.create_table(
        "projects",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("team_id", UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", UUID(as_uuid=True), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.ForeignKeyConstraint(["team_id"], [f"{SCHEMA}.teams.id"], ondelete="CASCADE",
                                name="fk_projects_team_id_teams"),
        schema=SCHEMA,
    )
    op.create_index("ix_projects_team_id", "projects", ["team_id"], schema=SCHEMA)

    op.create_table(
        "project_members",
        sa.Column("project_id", UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("team_id", UUID(as_uuid=True), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        _now("joined_at"),
        sa.PrimaryKeyConstraint("project_id", "user_id", name="pk_project_members"),
        sa.ForeignKeyConstraint(["project_id"], [f"{SCHEMA}.projects.id"], ondelete="CASCADE",
                                name="fk_project_members_project_id_projects"),
        # A project member is always a member of the project's team.
        sa.ForeignKeyConstraint(["team_id", "user_id"],
                                [f"{SCHEMA}.team_members.team_id",
                                 f"{SCHEMA}.team_members.user_id"],
                                ondelete="CASCADE", name="fk_project_members_team_member"),
        sa.CheckConstraint("role IN ('admin', 'editor', 'viewer')",
                           name="ck_project_members_role"),
        schema=SCHEMA,
    )
    op.create_index("ix_project_members_team_id_user_id", "project_members",
                    ["team_id", "user_id"], schema=SCHEMA)

    create_outbox(SCHEMA)
    create_processed_events(SCHEMA)


def downgrade() -> None:
    op.drop_table("processed_events", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_table("project_members", schema=SCHEMA)
    op.drop_table("projects", schema=SCHEMA)
    op.drop_table("team_members", schema=SCHEMA)
    op.drop_table("teams", schema=SCHEMA)
    op.drop_table("user_directory", schema=SCHEMA)
