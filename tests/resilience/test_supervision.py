"""The launcher's own supervision (what `make run` does): kill -9 of every kind of worker and
of redis-server under write load, and nothing in this test restarts anything. Every process
comes back by itself, one log line per restart, and every acknowledged write has its effects
exactly once (the same end-state checks as test_faults.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from devstack.stack import Stack

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faults_support as fs  # noqa: E402
from test_faults import assert_all_acknowledged, seed_of, verify  # noqa: E402

COME_BACK_SECONDS = 15.0


@pytest.fixture(scope="module")
def stack(supervised_stack: Stack) -> Stack:
    return supervised_stack


def kill_and_wait_for_replacement(name: str, current: Callable[[], subprocess.Popen]) -> None:
    victim = current()
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + COME_BACK_SECONDS
    while current() is victim or current().poll() is not None:
        assert time.monotonic() < deadline, f"{name} did not come back in {COME_BACK_SECONDS}s"
        time.sleep(0.05)
    print(f"{name}: pid {victim.pid} killed, pid {current().pid} took over")


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
                kill_and_wait_for_replacement(
                    name, lambda s=service, r=role: s.workers[r])   # type: ignore[misc]
                killed.append(name)
                load.wait_for_ops(5)
        kill_and_wait_for_replacement("redis", lambda: stack.redis.process)  # type: ignore
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
    verify(stack, api, load)


def test_infrastructure_and_apis_killed_come_back_by_themselves(stack: Stack,
                                                                api: httpx.Client) -> None:
    """PostgreSQL (its orphaned backends are reaped first), the gateway (its workers still
    hold the port), the SMTP sink and an API: each is back and the platform is ready."""
    parts: dict[str, Callable[[], subprocess.Popen]] = {
        "postgres": lambda: stack.postgres.process,   # type: ignore[dict-item,return-value]
        "gateway": lambda: stack.gateway.process,     # type: ignore[union-attr,return-value]
        "smtp-sink": lambda: stack.smtp.process,      # type: ignore[dict-item,return-value]
        "boards-api": lambda: stack.services["boards"].api,  # type: ignore[return-value]
    }
    for name, current in parts.items():
        kill_and_wait_for_replacement(name, current)
        problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=60)
        assert not problems, (name, problems)
    log = (stack.state_dir / "logs" / "supervisor.log").read_text()
    for name in parts:
        assert f"restarted {name} " in log, name
