"""The launcher's own supervision (what `make run` does): kill -9 of every kind of worker and
of redis-server under write load, and nothing in this test restarts anything. Every process
comes back by itself, one log line per restart, and every acknowledged write has its effects
exactly once (the same end-state checks as test_faults.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

import httpx
import pytest
from devstack.stack import ServiceProcesses, Stack

from tests.resilience import faults_support as fs
from tests.resilience.test_faults import assert_all_acknowledged, seed_of, verify

COME_BACK_SECONDS = 15.0


@pytest.fixture(scope="module")
def stack(supervised_stack: Stack) -> Stack:
    return supervised_stack


Current = Callable[[], subprocess.Popen[bytes] | None]   # the process now doing a job


def kill_and_wait_for_replacement(name: str, current: Current) -> None:
    victim = current()
    assert victim is not None, f"{name} is not running"
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + COME_BACK_SECONDS
    while (process := current()) is victim or process is None or process.poll() is not None:
        assert time.monotonic() < deadline, f"{name} did not come back in {COME_BACK_SECONDS}s"
        time.sleep(0.05)
    print(f"{name}: pid {victim.pid} killed, pid {process.pid} took over")


def worker(service: ServiceProcesses, role: str) -> Current:
    return lambda: service.workers[role]


def test_every_kind_killed_comes_back_by_itself(stack: Stack, api: httpx.Client,
                                                request: pytest.FixtureRequest) -> None:
    assert stack.supervisor is not None
    problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=60)
    assert not problems, problems
    world = fs.setup_world(api, stack, fs.new_tag())
    killed = []
    with fs.Workload(world, stack.gateway_url, seed=seed_of(request)) as load:
        load.wait_for_ops(20)
        for service in stack.services.values():
            for role in list(service.workers):
                name = f"{service.spec.name}-{role}"
                kill_and_wait_for_replacement(name, worker(service, role))
                killed.append(name)
                load.wait_for_ops(5)
        kill_and_wait_for_replacement("redis", lambda: stack.redis.process)
        killed.append("redis")
        problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=60)
        assert not problems, problems
        load.finish(more=30)
    # 4 relays, 4 consumers, the mailer, the scanner and Redis.
    assert len(killed) == 11, killed
    log = (stack.state_dir / "logs" / "supervisor.log").read_text().splitlines()
    for name in killed:
        lines = [line for line in log if f"restarted {name} " in line]
        assert len(lines) == 1, (name, lines)
        assert "signal SIGKILL" in lines[0]
    # Writes only need PostgreSQL: no kill may cost a client request anything.
    assert_all_acknowledged(load)
    # The mailer was killed too: its logged resends (same Message-ID) may repeat.
    verify(stack, api, load, allow_logged_resends=True)


def test_infrastructure_and_apis_killed_come_back_by_themselves(stack: Stack,
                                                                api: httpx.Client) -> None:
    """PostgreSQL (its orphaned backends are reaped first), the gateway (its workers still
    hold the port), the SMTP sink and an API: each is back and the platform is ready."""
    parts: dict[str, Current] = {
        "postgres": lambda: stack.postgres.process,
        "gateway": lambda: stack.gateway.process if stack.gateway else None,
        "smtp-sink": lambda: stack.smtp.process,
        "boards-api": lambda: stack.services["boards"].api,
    }
    for name, current in parts.items():
        kill_and_wait_for_replacement(name, current)
        problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=60)
        assert not problems, (name, problems)
    log = (stack.state_dir / "logs" / "supervisor.log").read_text()
    for name in parts:
        assert f"restarted {name} " in log, name


def test_healthz_names_every_worker_kind_and_a_stuck_one_fails_within_30s(
        stack: Stack, api: httpx.Client) -> None:
    problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=60)
    assert not problems, problems
    workers = api.get("/healthz").json()["workers"]
    expected = {f"{name}-{role}" for name, service in stack.services.items()
                for role in service.workers if name in fs.GATEWAY_SERVICES}
    assert expected <= set(workers), (expected, workers)
    assert all(state == "ok" for state in workers.values()), workers
    # A stuck process (stopped, not dead: the supervisor has nothing to restart) stops
    # beating; /healthz says so within 30 s, and recovers when it runs again.
    mailer = stack.services["notifier"].workers["mailer"]
    os.kill(mailer.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        def mailer_failing() -> list[str]:
            answer = api.get("/healthz")
            state = answer.json()["workers"].get("notifier-mailer", "")
            return [] if answer.status_code == 503 and state == "failing" \
                else [f"{answer.status_code} {state}"]

        assert not fs.wait_until(mailer_failing, timeout=30)
        print(f"stuck mailer reported after {time.monotonic() - stopped:.1f}s")
        assert "notifier-mailer" in api.get("/healthz").json()["detail"]
    finally:
        os.kill(mailer.pid, signal.SIGCONT)
    problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=30)
    assert not problems, problems
    assert stack.services["notifier"].workers["mailer"] is mailer, "it was never restarted"
