"""Settings every service shares. Each service subclasses :class:`ServiceSettings` with its
own env prefix (``IDENTITY_``, ``BOARDS_``...); nothing else reads ``os.environ``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DATABASE_URL = "postgresql+psycopg://kanban:kanban@127.0.0.1:5432/kanban"
DEV_REDIS_URL = "redis://127.0.0.1:6379/0"
DEV_CURSOR_SECRET = "development-cursor-secret"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KANBAN_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    debug: bool = False
    log_level: str = "INFO"
    # Where the API listens when run by ``python -m chassis.serve`` (its --host/--port win).
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    database_url: str = DEV_DATABASE_URL
    redis_url: str = DEV_REDIS_URL
    # The API's connections: requests beyond db_pool_size + db_pool_overflow at once wait
    # for one (5 s at most, then 503). Overflow connections are opened and closed per use.
    db_pool_size: int = Field(default=16, ge=1)
    db_pool_overflow: int = Field(default=0, ge=0)
    # Server-side statement_timeout of every pooled connection (0 = none); migrations are
    # not affected (they use their own connection).
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    # Token verification (every service re-verifies the gateway's decision).
    jwt_issuer: str = "kanban-identity"
    jwt_audience: str = "kanban"
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwks_cache_seconds: int = 300
    # Consumers: reclaim messages idle this long; dead-letter after this many deliveries.
    consumer_reclaim_idle_ms: int = 15_000
    consumer_max_attempts: int = 5
    # Relay: polling backstop when no NOTIFY arrives.
    relay_poll_seconds: float = 1.0
    relay_batch_size: int = 200
    # The relay trims its stream below what every consumer group has processed, keeping at
    # least this much history for groups created later and for replays (chassis.retention).
    stream_retention_hours: float = Field(default=168, ge=0)
    # Signs pagination cursors (chassis.pagination); set a random value in production.
    cursor_secret: str = DEV_CURSOR_SECRET
    # Where other services answer (read-through on a read-model miss; never via the gateway).
    identity_url: str = "http://127.0.0.1:8001"
    workspace_url: str = "http://127.0.0.1:8002"

    @model_validator(mode="after")
    def _refuse_development_defaults_in_production(self) -> ServiceSettings:
        if self.environment == "production":
            problems = self.production_problems()
            if problems:
                raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @classmethod
    def for_service(cls, service: str) -> ServiceSettings:
        """The shared settings as ``service`` sees them (env prefix ``<SERVICE>_``)."""
        return cls(_env_prefix=f"{service.upper()}_")

    def production_problems(self) -> list[str]:
        """Development defaults that must not reach production (extended by services)."""
        problems = []
        if self.debug:
            problems.append("debug is on")
        if self.database_url == DEV_DATABASE_URL or ":kanban@" in self.database_url:
            problems.append("database_url uses the development password")
        if self.cursor_secret == DEV_CURSOR_SECRET:
            problems.append("cursor_secret is the development default")
        return problems
