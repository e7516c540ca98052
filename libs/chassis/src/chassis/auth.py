"""Access-token verification for services (defence in depth behind the gateway).

Public keys come from identity's JWKS and are cached; an unknown ``kid`` triggers at most one
refresh per ``min_refresh_seconds`` (key rotation without a restart, no refresh storms).
The algorithm is pinned to RS256: it is never taken from the token header.

A token verified once is remembered (bounded, oldest forgotten first) until it expires or
``cache_seconds`` pass, whichever is first, as the gateway does: a repeat costs a dict
lookup instead of an RSA signature check. Only successes are remembered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.algorithms import RSAAlgorithm

from chassis.errors import ServiceUnavailable, Unauthorized
from chassis.logging import get_logger

log = get_logger(__name__)

ALGORITHM = "RS256"
ACCESS_TOKEN_TYPE = "access"
# Tokens remembered per process; one entry is a few hundred bytes.
MAX_REMEMBERED_TOKENS = 10_000


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    jti: str
    expires_at: int


class TokenVerifier:
    """Verifies access tokens against a set of public keys keyed by ``kid``.

    ``keys`` may be given directly (identity verifies with its own keys); otherwise they are
    loaded from ``jwks_url``.
    """

    def __init__(self, *, issuer: str, audience: str, jwks_url: str | None = None,
                 keys: dict[str, Any] | None = None, cache_seconds: int = 300,
                 min_refresh_seconds: float = 5.0, clock: Callable[[], float] = time.time,
                 max_remembered: int = MAX_REMEMBERED_TOKENS) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self._keys: dict[str, Any] = dict(keys or {})
        self._fetched_at = time.monotonic() if keys else 0.0
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._lock = asyncio.Lock()
        self.clock = clock
        self.max_remembered = max_remembered
        # token -> (claims, forget at): insertion order is age order.
        self._remembered: dict[str, tuple[AccessClaims, float]] = {}

    @staticmethod
    def keys_from_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
        return {k["kid"]: RSAAlgorithm.from_jwk(k) for k in jwks.get("keys", [])
                if k.get("kty") == "RSA" and k.get("kid")}

    async def _refresh(self, *, force: bool) -> None:
        if self.jwks_url is None:
            return
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if age < self.min_refresh_seconds or (not force and age < self.cache_seconds):
                return
            try:
                async with httpx.AsyncClient(timeout=3) as client:
                    response = await client.get(self.jwks_url)
                    response.raise_for_status()
                self._keys = self.keys_from_jwks(response.json())
                self._fetched_at = time.monotonic()
            except httpx.HTTPError as exc:
                log.warning("jwks_fetch_failed", url=self.jwks_url, error=str(exc))
                if not self._keys:
                    raise ServiceUnavailable("Signing keys are unavailable") from exc

    async def key_for(self, kid: str) -> Any:
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("Unknown signing key")
        return key

    async def verify(self, token: str) -> AccessClaims:
        now = self.clock()
        remembered = self._remembered.get(token)
        if remembered is not None:
            claims, until = remembered
            if now < until:
                return claims
            del self._remembered[token]
        claims = await self._verify_signature(token)
        if len(self._remembered) >= self.max_remembered:
            del self._remembered[next(iter(self._remembered))]
        self._remembered[token] = (claims, min(float(claims.expires_at),
                                               now + self.cache_seconds))
        return claims

    async def _verify_signature(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Malformed access token") from exc
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") != ALGORITHM:
            raise Unauthorized("Invalid access token")
        key = await self.key_for(kid)
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.audience,
                                issuer=self.issuer,
                                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]})
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid or expired access token") from exc
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthorized("Not an access token")
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except ValueError as exc:
            raise Unauthorized("Invalid access token subject") from exc
        return AccessClaims(user_id=user_id, jti=str(claims["jti"]), expires_at=int(claims["exp"]))


_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/login")


async def current_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    """FastAPI dependency: the verified access-token claims of the caller (else 401)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


async def current_user_id(claims: Annotated[AccessClaims, Depends(current_claims)]) -> uuid.UUID:
    return claims.user_id


CurrentUserId = Annotated[uuid.UUID, Depends(current_user_id)]
