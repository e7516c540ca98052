"""Keeps the native stack's processes running: a process that exits without being asked to is
started again, after a delay that doubles from 0.5 s to 10 s while it keeps failing and falls
back to 0.5 s once it has stayed up for a minute. Each restart is one line on the launcher's
output and in ``logs/supervisor.log``.

One watcher thread per process, blocked in ``wait()``: no polling, and a slow restart (a
PostgreSQL recovering from a crash) holds up nothing else."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from devstack.infra import progress

FIRST_DELAY = 0.5
MAX_DELAY = 10.0
STABLE_AFTER = 60.0   # seconds up after which the next failure starts from FIRST_DELAY


@dataclass
class Unit:
    """One supervised process: ``start()`` starts it (and waits until it is usable)."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes]
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def reap_group(process: subprocess.Popen[bytes]) -> None:
    """Kills what a dead process leaves behind in its process group (nginx's workers still
    holding the port, PostgreSQL's backends still holding shared memory): the replacement
    could not start while they live. Our children lead their own groups (spawn)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class Supervisor:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.units: dict[str, Unit] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def watch(self, name: str, process: subprocess.Popen[bytes],
              start: Callable[[], subprocess.Popen[bytes]]) -> None:
        unit = Unit(name=name, start=start, process=process)
        self.units[name] = unit
        threading.Thread(target=self._watch, args=(unit,), name=f"supervise-{name}",
                         daemon=True).start()

    def stop(self) -> None:
        """From now on an exit is expected: nothing is restarted."""
        self._stopping.set()

    def _log(self, line: str) -> None:
        progress(line)
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock, open(self.log_path, "a") as log:
            log.write(f"{stamp} {line}\n")

    def _watch(self, unit: Unit) -> None:
        delay = FIRST_DELAY
        while True:
            code = unit.process.wait()
            if self._stopping.is_set():
                return
            up = time.monotonic() - unit.started_at
            if up >= STABLE_AFTER:
                delay = FIRST_DELAY
            reap_group(unit.process)
            while True:   # until a start succeeds; the dead process is reaped once, above
                if self._stopping.wait(delay):
                    return
                try:
                    process = unit.start()
                    break
                except Exception as exc:   # noqa: BLE001 - any failure: try again later
                    self._log(f"could not restart {unit.name} ({describe_exit(code)} after "
                              f"{up:.1f}s up): {exc}; next try in "
                              f"{min(delay * 2, MAX_DELAY)}s")
                    delay = min(delay * 2, MAX_DELAY)
            unit.restarts += 1
            unit.process, unit.started_at = process, time.monotonic()
            self._log(f"restarted {unit.name} (pid {process.pid}): it ended with "
                      f"{describe_exit(code)} after {up:.1f}s up; restart {unit.restarts}, "
                      f"waited {delay}s")
            delay = min(delay * 2, MAX_DELAY)
