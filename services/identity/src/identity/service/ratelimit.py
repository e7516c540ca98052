"""Login throttling in Redis: failed attempts per e-mail and per client address within a
sliding window (one sorted set per key, scored by time).

An attempt *reserves* a slot in both windows atomically before the password is checked, and
gives it back if the login succeeds, so only failures count and concurrent guesses cannot
slip past the limit. A blocked attempt is refused with the seconds until a slot frees up.

Login must stay as available as the database: while Redis cannot be reached, each identity
process counts failures in its own memory with the same windows and limits (so an attacker
gains at most one allowance per process for the length of the outage), and goes back to
Redis as soon as it answers. What was counted locally is not carried over.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass

import redis.asyncio as aioredis
import redis.exceptions
from chassis.logging import get_logger

from identity.config import IdentitySettings

KEY_PREFIX = "identity:login-failures"

# KEYS: the windows; ARGV: window_ms, member, then one limit per key.
# Returns 0 (slot reserved in every window) or the milliseconds until the blocked window frees.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= limit then
    local entry = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
    local w = tonumber(entry[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, window)
end
return 0
"""


log = get_logger(__name__)

# Redis being away (not a refusal of ours): count in memory instead.
REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


@dataclass(frozen=True)
class Reservation:
    keys: tuple[str, ...]
    member: str
    local: bool = False   # counted in this process's memory (Redis was unavailable)


class LocalWindows:
    """The same sliding windows in this process's memory: the fallback during an outage."""

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self.entries: dict[str, deque[tuple[float, str]]] = {}

    def reserve(self, keys: tuple[str, ...], member: str, limits: tuple[int, ...]) -> float:
        """0 when reserved in every window, else the seconds until the blocked one frees."""
        now = time.monotonic()
        wait = 0.0
        for key, limit in zip(keys, limits, strict=True):
            window = self.entries.setdefault(key, deque())
            while window and window[0][0] <= now - self.window:
                window.popleft()
            if len(window) >= limit:
                wait = max(wait, window[len(window) - limit][0] + self.window - now)
        if wait > 0:
            return wait
        for key in keys:
            self.entries[key].append((now, member))
        return 0.0

    def release(self, keys: tuple[str, ...], member: str) -> None:
        for key in keys:
            window = self.entries.get(key)
            if window is not None:
                for entry in [e for e in window if e[1] == member]:
                    window.remove(entry)
                if not window:
                    del self.entries[key]


class LoginBlocked(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


class LoginLimiter:
    def __init__(self, redis: aioredis.Redis, *, window_seconds: int, max_per_email: int,
                 max_per_client: int) -> None:
        self.redis = redis
        self.window_ms = window_seconds * 1000
        self.max_per_email = max_per_email
        self.max_per_client = max_per_client
        self._reserve = redis.register_script(_RESERVE)
        self._local = LocalWindows(window_seconds)

    @classmethod
    def from_settings(cls, redis: aioredis.Redis, settings: IdentitySettings) -> LoginLimiter:
        return cls(redis, window_seconds=settings.login_failure_window_seconds,
                   max_per_email=settings.login_max_failures_per_email,
                   max_per_client=settings.login_max_failures_per_client)

    @staticmethod
    def email_key(email: str) -> str:
        # Hashed: no e-mail addresses in Redis.
        return f"{KEY_PREFIX}:email:{hashlib.sha256(email.encode()).hexdigest()}"

    @staticmethod
    def client_key(client: str) -> str:
        return f"{KEY_PREFIX}:client:{client}"

    async def reserve(self, *, email: str, client: str) -> Reservation:
        """Count this attempt as a failure in advance; raises LoginBlocked when either
        window is full."""
        keys = (self.email_key(email), self.client_key(client))
        member = uuid.uuid4().hex
        try:
            wait_ms = int(await self._reserve(
                keys=list(keys), args=[self.window_ms, member, self.max_per_email,
                                       self.max_per_client]))
        except REDIS_UNAVAILABLE as exc:
            log.warning("login_limiter_in_memory", error=repr(exc)[:200])
            wait = self._local.reserve(keys, member, (self.max_per_email, self.max_per_client))
            if wait > 0:
                raise LoginBlocked(max(1, math.ceil(wait))) from None
            return Reservation(keys=keys, member=member, local=True)
        if wait_ms > 0:
            raise LoginBlocked(max(1, math.ceil(wait_ms / 1000)))
        return Reservation(keys=keys, member=member)

    async def release(self, reservation: Reservation) -> None:
        """The attempt succeeded (or never got to check a password): not a failure."""
        if reservation.local:
            self._local.release(reservation.keys, reservation.member)
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in reservation.keys:
                    pipe.zrem(key, reservation.member)
                await pipe.execute()
        except REDIS_UNAVAILABLE as exc:
            # Redis went away in between: the slot stays counted until its window ends.
            log.warning("login_limiter_release_failed", error=repr(exc)[:200])
