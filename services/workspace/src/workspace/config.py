"""Workspace settings: the shared :class:`ServiceSettings` plus the read-through to identity.
Environment variables carry the ``WORKSPACE_`` prefix (``WORKSPACE_DATABASE_URL``...)."""

from __future__ import annotations

from chassis.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class WorkspaceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WORKSPACE_", extra="ignore")

    # Read-through to identity on a user-directory miss: a short timeout, because the caller
    # holds the team's row lock while it waits (an unreachable identity answers 503).
    identity_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
