"""Identity settings: the shared :class:`ServiceSettings` plus tokens, signing keys, password
hashing cost and login rate limits. Environment variables carry the ``IDENTITY_`` prefix."""

from __future__ import annotations

from pathlib import Path

import argon2
from chassis.settings import ServiceSettings
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

# OWASP's floor for Argon2id (19 MiB, 2 iterations); production refuses anything cheaper.
MIN_PRODUCTION_ARGON2_MEMORY_KIB = 19_456
MIN_PRODUCTION_ARGON2_TIME_COST = 2


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    # Tokens.
    access_token_ttl_seconds: int = Field(default=15 * 60, gt=0)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, gt=0)

    # Signing keys (see identity.keys). In production one of pem/file is required.
    signing_key_pem: SecretStr | None = None
    signing_key_file: Path | None = None
    # Public keys of retired signing keys, still published in the JWKS until every token
    # they signed has expired (JSON list in the environment).
    previous_public_keys_pem: list[str] = Field(default_factory=list)
    # Development only: where a generated key is kept (<state_dir>/identity/signing-key.pem).
    state_dir: Path = Path(".run")

    # Argon2id cost (defaults = pwdlib's / argon2-cffi's recommended parameters).
    argon2_time_cost: int = Field(default=argon2.DEFAULT_TIME_COST, ge=1)
    argon2_memory_cost: int = Field(default=argon2.DEFAULT_MEMORY_COST, ge=8)
    argon2_parallelism: int = Field(default=argon2.DEFAULT_PARALLELISM, ge=1)

    # Login throttling: failed attempts within a sliding window.
    login_failure_window_seconds: int = Field(default=15 * 60, gt=0)
    login_max_failures_per_email: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=50, ge=1)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()  # debug, development database password
        if self.signing_key_pem is None and self.signing_key_file is None:
            problems.append("no signing key configured (set IDENTITY_SIGNING_KEY_PEM or "
                            "IDENTITY_SIGNING_KEY_FILE); a generated development key is refused")
        if (self.argon2_memory_cost < MIN_PRODUCTION_ARGON2_MEMORY_KIB
                or self.argon2_time_cost < MIN_PRODUCTION_ARGON2_TIME_COST):
            problems.append("argon2 cost parameters are below the production minimum")
        return problems
