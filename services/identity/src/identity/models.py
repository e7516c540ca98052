"""Tables of the identity service (SQLAlchemy Core, on the service's metadata)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from identity.db import metadata, outbox

__all__ = ["metadata", "outbox", "refresh_tokens", "users"]

users = sa.Table(
    "users", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    # Stored lower-cased, so the unique constraint is case-insensitive uniqueness.
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("full_name", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("email = lower(email)", name="email_lower_case"),
)

refresh_tokens = sa.Table(
    "refresh_tokens", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey(users.c.id, ondelete="CASCADE"),
              nullable=False, index=True),
    # Every token issued from one login shares a family; reuse revokes the family.
    sa.Column("family_id", UUID(as_uuid=True), nullable=False, index=True),
    # SHA-256 (hex) of the opaque token: the token itself is never stored.
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    # Set when the token was rotated (exchanged for its successor ``replaced_by``).
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("replaced_by", UUID(as_uuid=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)
