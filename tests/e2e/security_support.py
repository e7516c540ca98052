"""Shared helpers for the security and bad-input tests (tests/e2e/test_security_*.py and
tests/resilience/test_fuzz.py, test_payload_edges.py).

Not a test module and not a conftest: a module of the ``tests.e2e`` package (pytest puts the
repository root on the import path), imported by name::

    from tests.e2e import security_support as sec
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.gateway import GatewayRates
from devstack.stack import Stack
from devstack.testing import User, register_and_login
from devstack.testing import ok as ok  # re-exported: the tests call sec.ok(...)

ISSUER = "kanban-identity"
AUDIENCE = "kanban"
# Same shape as tests/e2e/conftest.py's TEST_RATES, higher still: fuzzing sends bursts.
FUZZ_RATES: GatewayRates = {"auth_rate": "1000r/s", "auth_burst": 5000,
                             "api_rate": "5000r/s", "api_burst": 20000}
STACK_ENV = {
    # Cheap hashing keeps registration fast in tests; production uses the defaults.
    "IDENTITY_ARGON2_TIME_COST": "1",
    "IDENTITY_ARGON2_MEMORY_COST": "8192",
    "KANBAN_CONSUMER_RECLAIM_IDLE_MS": "1000",
}


# --- a private stack (resilience tests do not use tests/e2e/conftest.py) ------------------


@contextmanager
def private_stack(state_dir: Path, **env: str) -> Iterator[Stack]:
    """A whole platform for one test module, with gateway limits high enough for fuzzing."""
    with Stack(state_dir, env={**STACK_ENV, **env}, gateway_rates=FUZZ_RATES,
               crash_safe=False) as running:
        yield running


# --- small HTTP helpers -------------------------------------------------------------------


def until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(interval)


def is_problem(response: httpx.Response) -> str | None:
    """None if ``response`` is a well-formed problem+json for its status, else why not."""
    ctype = response.headers.get("content-type", "")
    if not ctype.startswith("application/problem+json"):
        return f"content-type {ctype!r}"
    try:
        body = response.json()
    except ValueError:
        return "body is not JSON"
    if not isinstance(body, dict):
        return "body is not an object"
    missing = {"type", "title", "status", "detail"} - body.keys()
    if missing:
        return f"missing {sorted(missing)}"
    if body["status"] != response.status_code:
        return f"status field {body['status']} != {response.status_code}"
    if not all(isinstance(body[k], str) for k in ("type", "title", "detail")):
        return "type/title/detail not strings"
    return None


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- a seeded world: one team with a project, board, lists, task and comment -------------


@dataclass
class World:
    owner: User
    team: dict
    project: dict
    board: dict
    lists: list[dict]
    task: dict
    comment: dict
    extra: dict[str, Any] = field(default_factory=dict)


def seed_world(api: httpx.Client, owner: User, label: str = "w") -> World:
    h = owner.headers
    team = ok(api.post("/api/v1/teams", json={"name": unique(f"{label}-team")}, headers=h), 201)
    project = ok(api.post("/api/v1/projects",
                          json={"team_id": team["id"], "name": unique(f"{label}-project"),
                                "description": unique(f"{label}-description")}, headers=h),
                 201)
    board = ok(api.post("/api/v1/boards", json={"project_id": project["id"],
                                                "name": unique(f"{label}-board")}, headers=h),
               201)
    lists = [ok(api.post("/api/v1/lists", json={"board_id": board["id"],
                                                "name": unique(f"{label}-list{i}")},
                         headers=h), 201) for i in range(2)]
    task = ok(api.post("/api/v1/tasks", json={"list_id": lists[0]["id"],
                                              "title": unique(f"{label}-task"),
                                              "description": unique(f"{label}-taskdesc"),
                                              "labels": [unique(f"{label}-label")]},
                       headers=h), 201)
    comment = ok(api.post("/api/v1/comments", json={"task_id": task["id"],
                                                    "body": unique(f"{label}-comment")},
                          headers=h), 201)
    return World(owner, team, project, board, lists, task, comment)


def make_user(api: httpx.Client, name: str, password: str | None = None) -> User:
    return register_and_login(api, unique(name), password or unique("pw-correct-horse"))


# --- tokens: every malformed variant (extends tests/e2e/test_identity_e2e.py's list) -------


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signing_key(stack: Stack) -> rsa.RSAPrivateKey:
    pem = (stack.state_dir / "identity" / "signing-key.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def claims(sub: str, **overrides: Any) -> dict:
    now = int(time.time())
    base = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600,
            "jti": str(uuid.uuid4()), "typ": "access"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(private_key: rsa.RSAPrivateKey, kid: str, **claim_overrides: Any) -> str:
    sub = claim_overrides.pop("sub")
    return jwt.encode(claims(sub, **claim_overrides), private_key, algorithm="RS256",
                      headers={"kid": kid})


def _hs256(signing_input: str, secret: bytes) -> str:
    return b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def token_variants(user: User, private_key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    """Every token that must be refused with 401, by name. ``user`` is a real user, so the
    only thing wrong with each variant is the named defect."""
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = sign(private_key, kid, sub=user.id)
    header, payload, signature = good.split(".")
    now = int(time.time())
    hs_header = b64({"alg": "HS256", "kid": kid, "typ": "JWT"})
    return {
        "garbage": "this-is-not-a-token",
        "empty segments": "..",
        "truncated": good[: len(good) // 2],
        "signature stripped": f"{header}.{payload}.",
        "bad signature (another key, same kid)": jwt.encode(
            claims(user.id), other_key, algorithm="RS256", headers={"kid": kid}),
        "tampered payload (other sub)": f"{header}.{b64(claims(str(uuid.uuid4())))}.{signature}",
        "alg none": f"{b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{payload}.",
        "alg none with the original signature": f"{b64({'alg': 'none', 'kid': kid})}."
                                                f"{payload}.{signature}",
        "HS256 signed with the public key": f"{hs_header}.{payload}."
                                            + _hs256(f"{hs_header}.{payload}", public_pem),
        "expired": sign(private_key, kid, sub=user.id, exp=now - 120, iat=now - 900),
        "not yet valid (nbf)": sign(private_key, kid, sub=user.id, nbf=now + 600),
        "wrong iss": sign(private_key, kid, sub=user.id, iss="someone-else"),
        "wrong aud": sign(private_key, kid, sub=user.id, aud="another-api"),
        "unknown kid": sign(private_key, "no-such-key", sub=user.id),
        "refresh token used as access": user.refresh_token,
        "typ refresh": sign(private_key, kid, sub=user.id, typ="refresh"),
    }


# --- what a response must never contain --------------------------------------------------


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Names of the secrets whose exact value appears in ``text`` (case-insensitive)."""
    lowered = text.lower()
    return [name for name, value in secrets.items() if value and value.lower() in lowered]
