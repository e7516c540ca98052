"""Argon2id password hashing (pwdlib). Hashing is CPU-bound, so it runs in a worker thread
instead of blocking the event loop."""

from __future__ import annotations

from anyio import to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from identity.config import IdentitySettings


class Passwords:
    def __init__(self, *, time_cost: int, memory_cost_kib: int, parallelism: int) -> None:
        self._hash = PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost_kib,
                                                parallelism=parallelism),))
        self._dummy: str | None = None

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> Passwords:
        return cls(time_cost=settings.argon2_time_cost,
                   memory_cost_kib=settings.argon2_memory_cost,
                   parallelism=settings.argon2_parallelism)

    async def hash(self, password: str) -> str:
        return await to_thread.run_sync(self._hash.hash, password)

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """(matches, new hash if the stored one uses outdated parameters, else None)."""
        return await to_thread.run_sync(self._hash.verify_and_update, password, password_hash)

    async def burn(self, password: str) -> None:
        """Spend the time of one verification (unknown e-mail), so response times do not
        tell which e-mails have an account."""
        if self._dummy is None:
            self._dummy = await self.hash("not-a-real-password")
        await to_thread.run_sync(self._hash.verify, password, self._dummy)
