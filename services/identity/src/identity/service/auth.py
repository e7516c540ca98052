"""Registration, login, refresh-token rotation and logout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from chassis.errors import Conflict, TooManyRequests, Unauthorized
from chassis.logging import get_logger
from contracts.events import UserRegistered
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from identity.db import publisher
from identity.models import refresh_tokens, users
from identity.service.passwords import Passwords
from identity.service.ratelimit import LoginBlocked, LoginLimiter
from identity.service.tokens import TokenIssuer, hash_refresh_token, new_refresh_token

log = get_logger(__name__)

INVALID_CREDENTIALS = "Invalid e-mail or password"
INVALID_REFRESH_TOKEN = "Invalid or expired refresh token"


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


def now_utc() -> datetime:
    return datetime.now(UTC)


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def register(session: AsyncSession, passwords: Passwords, *, email: str, password: str,
                   full_name: str) -> sa.Row[Any]:
    """Create the user and its ``user.registered`` event in one transaction; 409 if the
    e-mail (case-insensitively) is taken."""
    email = normalize_email(email)
    password_hash = await passwords.hash(password)
    user_id = uuid.uuid4()
    row: sa.Row[Any] | None = (await session.execute(
        insert(users)
        .values(id=user_id, email=email, full_name=full_name, password_hash=password_hash)
        .on_conflict_do_nothing(index_elements=[users.c.email])
        .returning(users))).first()
    if row is None:
        raise Conflict("An account with this e-mail already exists", code="email-taken")
    await publisher.publish(session, "user.registered", UserRegistered(
        user_id=user_id, email=email, full_name=full_name), actor_id=user_id)
    log.info("user_registered", user_id=str(user_id))
    return row


async def _start_refresh_token(session: AsyncSession, issuer: TokenIssuer, *,
                               user_id: uuid.UUID, family_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    token = new_refresh_token()
    token_id = uuid.uuid4()
    await session.execute(refresh_tokens.insert().values(
        id=token_id, user_id=user_id, family_id=family_id, token_hash=hash_refresh_token(token),
        expires_at=now_utc() + timedelta(seconds=issuer.refresh_ttl_seconds)))
    return token_id, token


async def login(session: AsyncSession, passwords: Passwords, issuer: TokenIssuer,
                limiter: LoginLimiter, *, email: str, password: str,
                client: str) -> IssuedTokens:
    """A new token pair (new refresh-token family). Wrong e-mail and wrong password get the
    same 401; too many failures for the e-mail or the client address get 429."""
    email = normalize_email(email)
    try:
        reservation = await limiter.reserve(email=email, client=client)
    except LoginBlocked as blocked:
        log.warning("login_throttled", client=client)
        raise TooManyRequests("Too many failed login attempts; try again later",
                              retry_after=blocked.retry_after_seconds) from None
    try:
        user_id, updated_hash = await _check_credentials(session, passwords, email=email,
                                                         password=password, client=client)
    except Unauthorized:
        raise  # a failure: the reserved slot stays counted
    except BaseException:
        await limiter.release(reservation)  # e.g. database down: not the caller's failure
        raise
    await limiter.release(reservation)
    if updated_hash is not None:  # cost parameters were raised: upgrade the stored hash
        await session.execute(users.update().where(users.c.id == user_id)
                              .values(password_hash=updated_hash))
    # Tokens of this user that can no longer be used are dead weight.
    await session.execute(refresh_tokens.delete().where(
        refresh_tokens.c.user_id == user_id, refresh_tokens.c.expires_at < now_utc()))
    _, new_token = await _start_refresh_token(session, issuer, user_id=user_id,
                                            family_id=uuid.uuid4())
    log.info("login_succeeded", user_id=str(user_id))
    return IssuedTokens(issuer.access_token(user_id), new_token, issuer.access_ttl_seconds)


async def _check_credentials(session: AsyncSession, passwords: Passwords, *, email: str,
                             password: str, client: str) -> tuple[uuid.UUID, str | None]:
    user = (await session.execute(
        sa.select(users.c.id, users.c.password_hash).where(users.c.email == email))).first()
    if user is None:
        await passwords.burn(password)
        log.info("login_failed", reason="unknown_email", client=client)
        raise Unauthorized(INVALID_CREDENTIALS)
    valid, updated_hash = await passwords.verify(password, user.password_hash)
    if not valid:
        log.info("login_failed", reason="wrong_password", user_id=str(user.id), client=client)
        raise Unauthorized(INVALID_CREDENTIALS)
    return user.id, updated_hash


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(refresh_tokens.update()
                          .where(refresh_tokens.c.family_id == family_id,
                                 refresh_tokens.c.revoked_at.is_(None))
                          .values(revoked_at=now_utc()))


async def refresh(session: AsyncSession, issuer: TokenIssuer, *,
                  refresh_token: str) -> IssuedTokens:
    """Rotate: the presented token is marked used and replaced by a new one of the same
    family. Presenting a token that was already rotated means it leaked (or was replayed):
    the whole family is revoked, committed, and the answer is 401."""
    row = (await session.execute(
        sa.select(refresh_tokens)
        .where(refresh_tokens.c.token_hash == hash_refresh_token(refresh_token))
        .with_for_update())).first()
    now = now_utc()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized(INVALID_REFRESH_TOKEN)
    if row.used_at is not None:
        await _revoke_family(session, row.family_id)
        # The request transaction rolls back on the error below; the revocation must stay.
        await session.commit()
        log.warning("refresh_token_reused", user_id=str(row.user_id),
                    family_id=str(row.family_id))
        raise Unauthorized(INVALID_REFRESH_TOKEN)
    new_id, token = await _start_refresh_token(session, issuer, user_id=row.user_id,
                                               family_id=row.family_id)
    await session.execute(refresh_tokens.update().where(refresh_tokens.c.id == row.id)
                          .values(used_at=now, replaced_by=new_id))
    return IssuedTokens(issuer.access_token(row.user_id), token, issuer.access_ttl_seconds)


async def logout(session: AsyncSession, *, refresh_token: str) -> None:
    """Revoke the whole family of the token; an unknown token is not an error."""
    family_id = (await session.execute(
        sa.select(refresh_tokens.c.family_id)
        .where(refresh_tokens.c.token_hash == hash_refresh_token(refresh_token)))).scalar()
    if family_id is not None:
        await _revoke_family(session, family_id)


async def revoke_all_refresh_tokens(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(refresh_tokens.update()
                          .where(refresh_tokens.c.user_id == user_id,
                                 refresh_tokens.c.revoked_at.is_(None))
                          .values(revoked_at=now_utc()))
