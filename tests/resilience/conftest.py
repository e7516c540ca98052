"""The platform for the resilience tests: one native Stack per test module (every
test that breaks something puts it back in a ``finally``), reached through the gateway.

``pytest tests/resilience`` works on its own: nothing here depends on tests/e2e. The stack's
settings make recovery quick enough to observe in a test run (a 1 s reclaim idle time, a 1 s
scan interval, short mailer back-off and lease); they change timings, never behaviour."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from devstack.gateway import GatewayRates
from devstack.infra import ScratchArea
from devstack.stack import Stack

RESILIENCE_ENV = {
    # Cheap hashing keeps registration fast in tests; production uses the defaults.
    "IDENTITY_ARGON2_TIME_COST": "1",
    "IDENTITY_ARGON2_MEMORY_COST": "8192",
    # A message left pending by a killed consumer is reclaimed after 1 s (default 15 s).
    "KANBAN_CONSUMER_RECLAIM_IDLE_MS": "1000",
    # Reminders are emitted within a second of a due date entering the window.
    "SCHEDULER_SCAN_INTERVAL_SECONDS": "1",
    # E-mail retries while the SMTP server is away: 0.5 s, 1 s, then every 2 s.
    "NOTIFIER_MAILER_BACKOFF_BASE_SECONDS": "0.5",
    "NOTIFIER_MAILER_BACKOFF_MAX_SECONDS": "2",
    # A row a killed mailer left 'sending' is taken over after 5 s (default 60 s); the SMTP
    # timeout stays below the lease so a live mailer's slow send is never taken over.
    "NOTIFIER_MAILER_LEASE_SECONDS": "5",
    "NOTIFIER_SMTP_TIMEOUT_SECONDS": "3",
}
# Generous gateway limits: the workload and the probes must never be rate limited.
RESILIENCE_RATES: GatewayRates = {"auth_rate": "500r/s", "auth_burst": 1000,
                                   "api_rate": "2000r/s", "api_burst": 4000}


@pytest.fixture(scope="module")
def stack(scratch: ScratchArea) -> Iterator[Stack]:
    # Crash-safe stores, as `make run` has them: the faults here include killing PostgreSQL.
    state = scratch.mktemp("resilience-stack")
    # No supervisor: these tests stop and start the parts they break themselves
    # (test_supervision.py runs its own stack with the launcher's supervision instead).
    # One process per role, as in compose: a test kills one worker kind at a time.
    with Stack(state, env=RESILIENCE_ENV, gateway_rates=RESILIENCE_RATES,
               supervise=False, split_roles=True) as running:
        yield running


@pytest.fixture(scope="module")
def supervised_stack(scratch: ScratchArea) -> Iterator[Stack]:
    """A stack under the launcher's own supervision, one process per role."""
    with Stack(scratch.mktemp("supervised-stack"), env=RESILIENCE_ENV,
               gateway_rates=RESILIENCE_RATES, supervise=True, split_roles=True) as running:
        yield running


@pytest.fixture(scope="module")
def native_stack(scratch: ScratchArea) -> Iterator[Stack]:
    """What `make run` runs: supervised, every service in one process, here with a second
    API process forked from it (WEB_CONCURRENCY=2), so the tests can kill that one too."""
    with Stack(scratch.mktemp("native-stack"), env=RESILIENCE_ENV,
               gateway_rates=RESILIENCE_RATES, supervise=True, api_processes=2) as running:
        yield running


@pytest.fixture(scope="module")
def gateway_url(stack: Stack) -> str:
    return stack.gateway_url


@pytest.fixture
def api(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=15) as client:
        yield client
