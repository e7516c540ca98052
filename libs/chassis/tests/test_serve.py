"""``python -m chassis.serve``: which roles a service has, the host running them as tasks, and
a real process serving the scheduler's API; and ``chassis.worker.running``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from chassis import worker as worker_module
from chassis.serve import Host, roles_of
from chassis.worker import Worker, running
from devstack.infra import free_port
from devstack.pytest_plugin import migrated_database

# The scheduler's database, migrated: the subprocess tests serve its API.
database_url, db = migrated_database("scheduler", scope="module")


# -- roles_of ---------------------------------------------------------------------------------

def test_an_unknown_role_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError) as error:
        roles_of("scheduler", "mailer")
    assert str(error.value) == \
        "scheduler has no role 'mailer' (it has: api, relay, consumer, scanner)"


# -- Host -------------------------------------------------------------------------------------

class Waits:
    """A role that runs until stopped, like a worker or an API."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        self.stop_calls = 0
        self.finished = False

    async def run(self) -> None:
        self.started.set()
        await self._stop.wait()
        self.finished = True

    def stop(self) -> None:
        self.stop_calls += 1
        self._stop.set()


class EndsByItself(Waits):
    """A role whose run() returns, or raises ``error``, without being asked to stop."""

    def __init__(self, error: Exception | None) -> None:
        super().__init__()
        self.error = error

    async def run(self) -> None:
        self.started.set()
        await asyncio.sleep(0.05)
        if self.error is not None:
            raise self.error
        self.finished = True


async def test_stopping_the_host_stops_every_role_and_returns() -> None:
    roles = {"a-api": Waits(), "a-relay": Waits(), "b-consumer": Waits()}
    host = Host(roles)
    task = asyncio.create_task(host.run())
    try:
        await asyncio.wait_for(asyncio.gather(*(r.started.wait() for r in roles.values())), 5)
        assert not task.done()
        host.stop()
        await asyncio.wait_for(task, 5)   # returns: no SystemExit
    finally:
        task.cancel()
    assert all(r.stop_calls >= 1 and r.finished for r in roles.values())


@pytest.mark.parametrize("error", [None, RuntimeError("the API could not start")],
                         ids=["returns", "raises"])
async def test_a_role_ending_by_itself_stops_the_others_and_exits_1(
        error: Exception | None) -> None:
    others = {"a-api": Waits(), "a-relay": Waits()}
    ending = EndsByItself(error)
    host = Host({**others, "a-consumer": ending})
    started = time.monotonic()
    # Awaited in this task: SystemExit leaving a task of its own would end the event loop.
    with pytest.raises(SystemExit) as exit_:
        async with asyncio.timeout(5):
            await host.run()
    assert exit_.value.code == 1
    assert time.monotonic() - started < 2
    assert all(r.stop_calls >= 1 and r.finished for r in others.values())


# -- a real process ---------------------------------------------------------------------------

def serve(args: list[str], database_url: str, redis_url: str) -> subprocess.Popen[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")},
           "SCHEDULER_DATABASE_URL": database_url, "SCHEDULER_REDIS_URL": redis_url,
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "chassis.serve", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.kill()
    out, err = process.communicate(timeout=20)
    return out, err


def json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_the_scheduler_api_serves_logs_its_name_and_stops_on_sigterm(database_url: str,
                                                                    redis_url: str) -> None:
    port = free_port()
    process = serve(["scheduler", "--role", "api", "--port", str(port), "--api-processes",
                     "2"], database_url, redis_url)
    try:
        deadline = time.monotonic() + 30
        status = None
        while status != 200:
            assert process.poll() is None, finish(process)
            assert time.monotonic() < deadline, "the API never answered"
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code
            except httpx.TransportError:
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = process.wait(10)
        stopped_in = time.monotonic() - started
    finally:
        out, err = finish(process)
    assert code == 0, (out, err)
    # Both processes finish their requests (5 s at most) and stop.
    assert stopped_in < 8, stopped_in
    lines = json_lines(out)
    hosts = [str(line["roles"]) for line in lines if line["event"] == "host_started"]
    assert sorted(hosts) == sorted([str(["scheduler"]), str(["scheduler", "api-processes"])]), \
        out
    # Every line of the process, uvicorn's included, names the service it is about.
    assert lines and all(line.get("service") == "scheduler" for line in lines), out


@pytest.mark.parametrize(("processes", "event"), [
    ("1", "role_failed"),        # one process: uvicorn binds in the role, which fails
    ("2", "api_bind_failed"),    # bound before the fork, refused before anything starts
])
def test_an_api_that_cannot_bind_its_port_ends_the_process_with_1(
        database_url: str, redis_url: str, processes: str, event: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = serve(["scheduler", "--role", "api", "--port", str(port),
                         "--api-processes", processes], database_url, redis_url)
        try:
            code = process.wait(30)
        finally:
            out, err = finish(process)
    assert code == 1, (out, err)
    named = [line for line in json_lines(out) if line["event"] == event]
    assert named and named[0]["service"] == "scheduler", (out, err)
    if event == "api_bind_failed":
        assert named[0]["port"] == port


# -- running ----------------------------------------------------------------------------------

class FakeWorker(Worker):
    """Connects (or not) as told; records that it was closed."""

    def __init__(self, *, connects: bool = True) -> None:
        super().__init__(service="test", kind="fake", redis_url=None)
        self.connects = connects
        self.closed = False

    async def run_connected(self) -> None:
        if self.connects:
            self.connected.set()
        await self.until_stopped()

    async def close(self) -> None:
        self.closed = True


class EndsEarly(FakeWorker):
    def __init__(self, error: Exception | None) -> None:
        super().__init__()
        self.error = error

    async def run(self) -> None:
        if self.error is not None:
            raise self.error


async def test_running_enters_once_connected_and_stops_the_worker_on_exit() -> None:
    worker = FakeWorker()
    async with running(worker) as entered:
        assert entered is worker and worker.connected.is_set()
        stopping_inside = worker.stopping
    assert not stopping_inside
    assert worker.stopping and worker.closed


async def test_running_raises_what_ended_the_worker_before_it_connected() -> None:
    with pytest.raises(LookupError, match="no such schema"):
        async with running(EndsEarly(LookupError("no such schema"))):
            pytest.fail("entered a worker that had ended")


async def test_running_raises_when_the_worker_returns_before_it_connected() -> None:
    with pytest.raises(RuntimeError, match="fake ended before it connected"):
        async with running(EndsEarly(None)):
            pytest.fail("entered a worker that had ended")


async def test_running_gives_up_on_a_worker_that_never_connects(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "RUNNING_TIMEOUT_SECONDS", 0.3)
    worker = FakeWorker(connects=False)
    with pytest.raises(TimeoutError, match="not connected"):
        async with running(worker):
            pytest.fail("entered a worker that never connected")
    assert worker.stopping and worker.closed   # stopped, not left running
