"""`make run`'s own layout under its own supervision: every service in one process (with a
second API process forked from it here, WEB_CONCURRENCY=2). kill -9 of that process, of
Redis and of the forked API process under write load; nothing in this test restarts
anything. The launcher brings
each back (one log line each), and every acknowledged write has its effects exactly once.
Requests in flight at a kill may fail: each is reconciled (done exactly once, or not at
all), as after any crash of an API."""

from __future__ import annotations

import os
import signal

import httpx
import pytest
from devstack.stack import HOST, Stack

from tests.resilience import faults_support as fs
from tests.resilience.test_faults import seed_of, verify
from tests.resilience.test_supervision import kill_and_wait_for_replacement


@pytest.fixture(scope="module")
def stack(native_stack: Stack) -> Stack:
    return native_stack


def test_the_one_process_of_every_service_killed_comes_back_by_itself(
        stack: Stack, api: httpx.Client, request: pytest.FixtureRequest) -> None:
    assert stack.supervisor is not None and stack.host is not None
    assert not stack.split_roles and HOST in stack.python_pids()
    problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=60)
    assert not problems, problems
    world = fs.setup_world(api, stack, fs.new_tag())
    with fs.Workload(world, stack.gateway_url, seed=seed_of(request)) as load:
        load.wait_for_ops(20)
        kill_and_wait_for_replacement(HOST, lambda: stack.host)
        problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=60)
        assert not problems, problems
        load.wait_for_ops(10)
        kill_and_wait_for_replacement("redis", lambda: stack.redis.process)
        problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=60)
        assert not problems, problems
        load.wait_for_ops(10)
        # One of the processes the services' process forked to serve the APIs: it notices,
        # stops and exits 1, and the launcher starts it all again.
        forked = [pid for name, pid in stack.python_pids().items() if name != HOST]
        assert forked, "the native stack of these tests runs two API processes"
        before = stack.host
        os.kill(forked[0], signal.SIGKILL)
        fs.wait_until(lambda: [] if stack.host is not before else ["not restarted"],
                      timeout=30)
        problems = fs.wait_until(lambda: fs.all_ready(stack, api), timeout=60)
        assert not problems, problems
        load.finish(more=30)
    log = (stack.state_dir / "logs" / "supervisor.log").read_text().splitlines()
    lines = [line for line in log if f"restarted {HOST} " in line]
    assert len(lines) == 2, lines
    assert "signal SIGKILL" in lines[0] and "exit code 1" in lines[1], lines
    lines = [line for line in log if "restarted redis " in line]
    assert len(lines) == 1 and "signal SIGKILL" in lines[0], lines
    acknowledged = [op for op in load.ops if op.outcome == "ok"]
    assert len(acknowledged) >= 40, len(acknowledged)
    # The mailer was killed too: its logged resends (same Message-ID) may repeat.
    verify(stack, api, load, allow_logged_resends=True)
