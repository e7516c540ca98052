"""Login throttling in Redis: failed attempts per e-mail and per client address within a
sliding window (one sorted set per key, scored by time).

An attempt *reserves* a slot in both windows atomically before the password is checked, and
gives it back if the login succeeds, so only failures count and concurrent guesses cannot
slip past the limit. A blocked attempt is refused with the seconds until a slot frees up.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

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


@dataclass(frozen=True)
class Reservation:
    keys: tuple[str, ...]
    member: str


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
        wait_ms = int(await self._reserve(
            keys=list(keys), args=[self.window_ms, member, self.max_per_email,
                                   self.max_per_client]))
        if wait_ms > 0:
            raise LoginBlocked(max(1, math.ceil(wait_ms / 1000)))
        return Reservation(keys=keys, member=member)

    async def release(self, reservation: Reservation) -> None:
        """The attempt succeeded (or never got to check a password): not a failure."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in reservation.keys:
                pipe.zrem(key, reservation.member)
            await pipe.execute()
