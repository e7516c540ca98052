"""Tables of the workspace service (SQLAlchemy Core, on the service's metadata).

Invariants the database enforces itself, so concurrent requests cannot break them:
one owner per team (partial unique index), one membership per (team, user) and
(project, user) (primary keys), and a project member is always a member of the project's
team (composite foreign key to ``team_members``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from workspace.db import metadata, outbox, processed_events

__all__ = ["metadata", "outbox", "processed_events", "project_members", "projects",
           "team_members", "teams", "user_directory"]

TEAM_ROLES = ("owner", "admin", "member")
PROJECT_ROLES = ("admin", "editor", "viewer")
# Team roles that make a user an implicit admin of every project of the team.
IMPLICIT_ADMIN_ROLES = ("owner", "admin")


def _now_column(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False,
                     server_default=sa.func.now())


# Read model of identity's users, fed by user.registered / user.updated (and by read-through
# on a miss). ``as_of`` is the time the copy describes: an older event never overwrites it.
user_directory = sa.Table(
    "user_directory", metadata,
    sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, nullable=False),  # stored lower-cased
    sa.Column("full_name", sa.Text, nullable=False),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_user_directory_email", "email"),
)

teams = sa.Table(
    "teams", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    _now_column("created_at"),
)

team_members = sa.Table(
    "team_members", metadata,
    sa.Column("team_id", UUID(as_uuid=True), sa.ForeignKey(teams.c.id, ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), primary_key=True, index=True),
    sa.Column("role", sa.Text, nullable=False),
    _now_column("joined_at"),
    # When the current role began (a promotion makes one an implicit project admin from then).
    _now_column("role_since"),
    sa.CheckConstraint("role IN ('owner', 'admin', 'member')", name="role"),
    sa.Index("uq_team_members_one_owner", "team_id", unique=True,
             postgresql_where=sa.text("role = 'owner'")),
)

projects = sa.Table(
    "projects", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("team_id", UUID(as_uuid=True), sa.ForeignKey(teams.c.id, ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_by", UUID(as_uuid=True), nullable=False),
    _now_column("created_at"),
)

# Explicit project roles only; team owners and admins are implicit admins (not stored here).
project_members = sa.Table(
    "project_members", metadata,
    sa.Column("project_id", UUID(as_uuid=True),
              sa.ForeignKey(projects.c.id, ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("team_id", UUID(as_uuid=True), nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    _now_column("joined_at"),
    sa.CheckConstraint("role IN ('admin', 'editor', 'viewer')", name="role"),
    sa.ForeignKeyConstraint(["team_id", "user_id"],
                            [team_members.c.team_id, team_members.c.user_id],
                            ondelete="CASCADE", name="fk_project_members_team_member"),
    sa.Index("ix_project_members_team_id_user_id", "team_id", "user_id"),
)
