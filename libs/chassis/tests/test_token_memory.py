"""The services' token check remembers verified tokens until they expire (bounded)."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from chassis.auth import AccessClaims, TokenVerifier
from chassis.errors import Unauthorized
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "k1"


class CountingVerifier(TokenVerifier):
    """Counts the signature checks (the expensive part) behind the memory."""

    checks = 0

    async def _verify_signature(self, token: str) -> AccessClaims:
        self.checks += 1
        return await super()._verify_signature(token)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def sign(key: rsa.RSAPrivateKey, *, lifetime: int = 900, **extra: object) -> str:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "iss": "kanban-identity", "aud": "kanban",
              "typ": "access", "jti": uuid.uuid4().hex, "iat": now, "exp": now + lifetime,
              **extra}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})


def verifier(key: rsa.RSAPrivateKey, clock: Clock, *, cache_seconds: int = 300,
             max_remembered: int = 100) -> CountingVerifier:
    return CountingVerifier(keys={KID: key.public_key()}, issuer="kanban-identity",
                            audience="kanban", clock=clock, cache_seconds=cache_seconds,
                            max_remembered=max_remembered)


async def test_a_token_is_checked_once_until_it_expires(signing_key) -> None:
    clock = Clock()
    tokens = verifier(signing_key, clock)
    token = sign(signing_key, lifetime=10)
    first = await tokens.verify(token)
    assert await tokens.verify(token) == first
    assert tokens.checks == 1
    clock.now += 11   # past its exp: checked again, never answered from memory
    await tokens.verify(token)
    assert tokens.checks == 2


async def test_memory_is_bounded_in_time_and_size(signing_key) -> None:
    clock = Clock()
    tokens = verifier(signing_key, clock, cache_seconds=60, max_remembered=2)
    a, b, c = (sign(signing_key) for _ in range(3))
    for token in (a, b, a):
        await tokens.verify(token)
    assert tokens.checks == 2
    clock.now += 61   # long-lived token, short memory
    await tokens.verify(a)
    assert tokens.checks == 3
    await tokens.verify(b)
    await tokens.verify(c)   # a third token: the oldest (a) is forgotten
    assert tokens.checks == 5
    await tokens.verify(a)
    assert tokens.checks == 6


@pytest.mark.parametrize("tamper", ["signature", "typ"])
async def test_refusals_are_not_remembered(signing_key, tamper: str) -> None:
    tokens = verifier(signing_key, Clock())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = sign(other_key) if tamper == "signature" else sign(signing_key, typ="refresh")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await tokens.verify(bad)
    assert tokens.checks == 2
