"""Boards settings: the shared :class:`ServiceSettings` plus read-through and rebalancing.
Environment variables carry the ``BOARDS_`` prefix."""

from __future__ import annotations

from chassis.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class BoardsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOARDS_", extra="ignore")

    # Read-through to workspace on a read-model miss (GET /api/v1/projects/{id}).
    workspace_timeout_seconds: float = Field(default=3.0, gt=0)
    # Background rebalancing (run by the consumer process, never on a request): a list whose
    # longest rank exceeds this many characters gets fresh, short ranks.
    rebalance_rank_length: int = Field(default=48, ge=8)
    rebalance_interval_seconds: float = Field(default=60.0, gt=0)
