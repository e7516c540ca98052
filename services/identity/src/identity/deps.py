"""FastAPI dependencies of the identity routers."""

from __future__ import annotations

from typing import Annotated, cast

from chassis.auth import CurrentUserId
from chassis.http import DbSession
from fastapi import Depends, Request

from identity.keys import KeyRing
from identity.service.passwords import Passwords
from identity.service.ratelimit import LoginLimiter
from identity.service.tokens import TokenIssuer

__all__ = ["ClientAddress", "CurrentUserId", "DbSession", "Issuer", "Keys", "Limiter",
           "PasswordHasher"]


def _keys(request: Request) -> KeyRing:
    return cast(KeyRing, request.app.state.keyring)


def _issuer(request: Request) -> TokenIssuer:
    return cast(TokenIssuer, request.app.state.token_issuer)


def _passwords(request: Request) -> Passwords:
    return cast(Passwords, request.app.state.passwords)


def _limiter(request: Request) -> LoginLimiter:
    return cast(LoginLimiter, request.app.state.login_limiter)


def client_address(request: Request) -> str:
    """The caller's address: the first X-Forwarded-For entry (set by the gateway), else the
    socket peer."""
    forwarded = request.headers.get("x-forwarded-for", "")
    first = forwarded.split(",", 1)[0].strip()
    if first:
        return first[:100]
    return request.client.host if request.client else "unknown"


Keys = Annotated[KeyRing, Depends(_keys)]
Issuer = Annotated[TokenIssuer, Depends(_issuer)]
PasswordHasher = Annotated[Passwords, Depends(_passwords)]
Limiter = Annotated[LoginLimiter, Depends(_limiter)]
ClientAddress = Annotated[str, Depends(client_address)]
