"""The running platform for black-box tests: one native Stack per test session, reached only
through the gateway with httpx. Factories create users (and later teams, projects...)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack

# Generous gateway limits for the suite; the rate-limit tests use their own addresses/keys.
TEST_RATES = {"auth_rate": "200r/s", "auth_burst": 400, "api_rate": "1000r/s",
              "api_burst": 2000}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("stack")
    env = {
        # Cheap hashing keeps registration fast in tests; production uses the defaults.
        "IDENTITY_ARGON2_TIME_COST": "1",
        "IDENTITY_ARGON2_MEMORY_COST": "8192",
        "KANBAN_CONSUMER_RECLAIM_IDLE_MS": "1000",
    }
    with Stack(state, env=env, gateway_rates=TEST_RATES) as running:
        yield running


@pytest.fixture(scope="session")
def gateway_url(stack: Stack) -> str:
    return stack.gateway_url


@pytest.fixture
def api(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=15) as client:
        yield client


@dataclass
class User:
    id: str
    email: str
    password: str
    full_name: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def make_user(api: httpx.Client):
    """Register and log in a new user: ``make_user("alice")`` -> User."""

    def _make(name: str = "user", password: str = "correct horse battery") -> User:
        email = unique_email(name)
        registered = api.post("/api/v1/auth/register",
                              json={"email": email, "password": password, "full_name": name})
        assert registered.status_code == 201, registered.text
        login = api.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        tokens = login.json()
        return User(id=registered.json()["id"], email=email, password=password, full_name=name,
                    access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])

    return _make


def assert_problem(response: httpx.Response, status: int) -> dict:
    """The response is an RFC 9457 problem+json with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), \
        response.headers
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    return body
