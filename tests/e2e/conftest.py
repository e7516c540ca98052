"""The running platform for black-box tests: one native Stack per test session, reached only
through the gateway with httpx. Factories create users (and later teams, projects...)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from devstack.gateway import GatewayRates
from devstack.infra import ScratchArea
from devstack.stack import Stack
from devstack.testing import User, register_and_login

# Generous gateway limits for the suite; the rate-limit tests use their own addresses/keys.
TEST_RATES: GatewayRates = {"auth_rate": "200r/s", "auth_burst": 400,
                             "api_rate": "1000r/s", "api_burst": 2000}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
__all__ = ["User"]


@pytest.fixture(scope="session")
def stack(scratch: ScratchArea) -> Iterator[Stack]:
    state = scratch.mktemp("stack")
    env = {
        # Cheap hashing keeps registration fast in tests; production uses the defaults.
        "IDENTITY_ARGON2_TIME_COST": "1",
        "IDENTITY_ARGON2_MEMORY_COST": "8192",
        "KANBAN_CONSUMER_RECLAIM_IDLE_MS": "1000",
        # Reminders within seconds instead of a minute (the clock itself is never faked here).
        "SCHEDULER_SCAN_INTERVAL_SECONDS": "1",
    }
    with Stack(state, env=env, gateway_rates=TEST_RATES, crash_safe=False) as running:
        yield running


@pytest.fixture(scope="session")
def gateway_url(stack: Stack) -> str:
    return stack.gateway_url


@pytest.fixture
def api(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=15) as client:
        yield client


@pytest.fixture
def make_user(api: httpx.Client):
    """Register and log in a new user: ``make_user("alice")`` -> User."""

    def _make(name: str = "user", password: str = "correct horse battery") -> User:
        return register_and_login(api, name, password)

    return _make
