"""`make run`'s launcher (``python -m devstack run``) as a user runs it: from a checkout inside a
folder only its owner may enter (a clone in root's home directory is like that), with the
stores' crash-safe settings, one launcher per checkout, and the port the user asked for."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from devstack.gateway import gateway_dir
from devstack.infra import ScratchArea, free_port
from devstack.stack import default_state_dir
from devstack.testing import register_and_login

FAST_HASHING = {"IDENTITY_ARGON2_TIME_COST": "1", "IDENTITY_ARGON2_MEMORY_COST": "8192"}
START_TIMEOUT = 240.0


@dataclass
class Launcher:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def read_all(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_up(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if match := re.search(r"Gateway:\s+(http://\S+)", self.output):
                return match.group(1)
            assert self.process.poll() is None, f"the launcher exited:\n{self.output}"
            time.sleep(0.2)
        raise AssertionError(f"not up in {START_TIMEOUT}s:\n{self.output}")


def launch(checkout: Path, *args: str, **env: str) -> Launcher:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "run", *args], cwd=checkout,
        env={**os.environ, **FAST_HASHING, **env}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    launcher = Launcher(process)
    threading.Thread(target=launcher.read_all, daemon=True).start()
    return launcher


def modes_up_to_root(path: Path) -> dict[Path, int]:
    return {folder: folder.stat().st_mode & 0o7777 for folder in (path, *path.parents)}


@pytest.fixture(scope="module")
def private_checkout() -> Iterator[Path]:
    """A folder of mode 0700 holding what a checkout gives the launcher to run (the gateway's
    files; the Python packages come from the test's environment)."""
    private = Path(tempfile.mkdtemp(prefix="kanban-private-"))
    assert private.stat().st_mode & 0o777 == 0o700
    checkout = private / "checkout"
    checkout.mkdir()
    shutil.copytree(gateway_dir(), checkout / "gateway",
                    ignore=shutil.ignore_patterns("tests", "__pycache__"))
    yield checkout
    state = default_state_dir(checkout)
    shutil.rmtree(private, ignore_errors=True)
    if not state.is_relative_to(private):
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def running(private_checkout: Path) -> Iterator[tuple[Launcher, str, dict[Path, int]]]:
    before = modes_up_to_root(private_checkout)
    launcher = launch(private_checkout, "--port", str(free_port()),
                      KANBAN_GATEWAY_DIR=str(private_checkout / "gateway"))
    try:
        url = launcher.wait_up()
        yield launcher, url, before
    finally:
        launcher.process.send_signal(signal.SIGINT)
        launcher.process.wait(60)


def test_a_checkout_in_a_private_folder_runs_and_no_folder_mode_changes(
        running: tuple[Launcher, str, dict[Path, int]], private_checkout: Path) -> None:
    launcher, url, before = running
    with httpx.Client(base_url=url, timeout=15) as api:
        user = register_and_login(api, "private")
        # An authenticated call: the gateway's token check runs Lua and njs in its workers.
        me = api.get("/api/v1/users/me", headers=user.headers)
        assert me.status_code == 200, me.text
        assert me.json()["id"] == user.id
        # Static files served by the workers (nobody, when we are root).
        assert api.get("/api/schema/").status_code == 200
        assert api.get("/healthz").status_code == 200
    assert modes_up_to_root(private_checkout) == before
    state = default_state_dir(private_checkout)
    assert f"state (database, Redis, mail, logs) in {state}" in launcher.output
    if os.geteuid() == 0:
        # The stack's other users cannot enter the checkout: its state lives where they can,
        # and .run points there.
        assert not state.is_relative_to(private_checkout.parent)
        assert (private_checkout / ".run").resolve() == state.resolve()


def test_the_run_mode_keeps_postgres_crash_safe(
        running: tuple[Launcher, str, dict[Path, int]]) -> None:
    launcher, _, _ = running
    port = re.search(r"postgres listening on 127\.0\.0\.1:(\d+)", launcher.output)
    assert port, launcher.output
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port.group(1)}/postgres") as conn:
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                    for name in ("fsync", "synchronous_commit", "full_page_writes")}
    assert settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def test_a_second_launcher_of_the_same_checkout_says_where_the_first_runs(
        running: tuple[Launcher, str, dict[Path, int]], private_checkout: Path) -> None:
    first, url, _ = running
    second = subprocess.run([sys.executable, "-m", "devstack", "run"], cwd=private_checkout,
                            env={**os.environ, "KANBAN_GATEWAY_DIR": str(
                                private_checkout / "gateway")},
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "Traceback" not in second.stderr, second.stderr
    assert "already running" in second.stderr
    assert f"pid {first.process.pid}" in second.stderr
    assert url in second.stderr


def test_an_explicit_port_that_is_taken_stops_with_its_name_and_holder(
        running: tuple[Launcher, str, dict[Path, int]]) -> None:
    _, url, _ = running
    port = int(url.rsplit(":", 1)[1])
    with ScratchArea("kanban-port-test-") as scratch:
        result = subprocess.run(
            [sys.executable, "-m", "devstack", "run", "--port", str(port)], cwd=scratch.root,
            env={**os.environ, "KANBAN_STATE_DIR": str(scratch.mktemp("state"))},
            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert f"port {port} is taken (by nginx" in result.stderr, result.stderr
    assert "PORT=" in result.stderr
