"""Access tokens (RS256 JWTs signed with the current key) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

import jwt
from chassis.auth import ACCESS_TOKEN_TYPE, ALGORITHM

from identity.config import IdentitySettings
from identity.keys import KeyRing


def new_refresh_token() -> str:
    """384 bits of randomness, URL-safe; only its hash is stored."""
    return secrets.token_urlsafe(48)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenIssuer:
    def __init__(self, *, keyring: KeyRing, issuer: str, audience: str,
                 access_ttl_seconds: int, refresh_ttl_seconds: int) -> None:
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.access_ttl_seconds = access_ttl_seconds
        self.refresh_ttl_seconds = refresh_ttl_seconds

    @classmethod
    def from_settings(cls, settings: IdentitySettings, keyring: KeyRing) -> TokenIssuer:
        return cls(keyring=keyring, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                   access_ttl_seconds=settings.access_token_ttl_seconds,
                   refresh_ttl_seconds=settings.refresh_token_ttl_seconds)

    def access_token(self, user_id: uuid.UUID) -> str:
        now = int(time.time())
        claims = {"sub": str(user_id), "iss": self.issuer, "aud": self.audience,
                  "iat": now, "exp": now + self.access_ttl_seconds,
                  "jti": str(uuid.uuid4()), "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(claims, self.keyring.private_key, algorithm=ALGORITHM,
                          headers={"kid": self.keyring.kid})
