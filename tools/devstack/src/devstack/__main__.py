"""``python -m devstack run``: the whole platform on this machine, no Docker needed.
``python -m devstack prereqs run|test|bench``: install or check what that command needs."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from devstack.gateway import RATE, GatewayRates
from devstack.infra import (
    FolderNotReachable,
    MissingPrerequisite,
    free_port,
    progress,
    require,
)
from devstack.stack import Stack, default_state_dir, prepare_state_dir

DEFAULT_PORT = 8080
# Each command checks only what it needs: the running stack needs the four servers; the test
# suite also drives curl (README walkthrough), docker-compose (offline check of the compose
# file) and chromium (the API docs in a browser); the benchmarks drive wrk.
PREREQUISITES = {
    "run": ("initdb", "postgres", "redis-server", "nginx"),
    "test": ("initdb", "postgres", "redis-server", "nginx", "curl", "docker-compose",
             "chromium"),
    "bench": ("initdb", "postgres", "redis-server", "nginx", "wrk"),
}


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_holder(port: int) -> str | None:
    """Which process listens on ``port`` (e.g. "nginx, pid 123"), when /proc tells us."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                name = (proc / "comm").read_text().strip()
                return f"{name}, pid {proc.name}"
        except OSError:
            continue
    return None


def choose_port(requested: int | None) -> int:
    """The requested port exactly (or SystemExit naming it), else 8080 or, if that is taken,
    a free port announced in one line."""
    if requested is not None:
        if not port_is_free(requested):
            holder = port_holder(requested)
            raise SystemExit(f"error: port {requested} is taken"
                             f"{f' (by {holder})' if holder else ''}; choose another with "
                             f"`make run PORT=<port>`")
        return requested
    if port_is_free(DEFAULT_PORT):
        return DEFAULT_PORT
    port = free_port()
    holder = port_holder(DEFAULT_PORT)
    print(f"[devstack] port {DEFAULT_PORT} is taken{f' (by {holder})' if holder else ''}: "
          f"the gateway uses port {port} instead (choose one with `make run PORT=<port>`)",
          file=sys.stderr, flush=True)
    return port


def take_lock(state_dir: Path) -> IO[str]:
    """One launcher per state folder: a second one stops with where the first one runs."""
    lock = open(state_dir / "launcher.lock", "a+")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        try:
            running = json.loads(lock.read() or "{}")
        except ValueError:
            running = {}
        raise SystemExit(
            f"error: the platform of this checkout is already running (launcher pid "
            f"{running.get('pid', '?')}, gateway {running.get('gateway', '(starting)')}, "
            f"state in {state_dir}). Stop it with Ctrl-C in its terminal, or "
            f"`kill {running.get('pid', '<pid>')}`.") from None
    record_lock(lock, gateway=None)
    return lock


def record_lock(lock: IO[str], gateway: str | None) -> None:
    lock.seek(0)
    lock.truncate()
    lock.write(json.dumps({"pid": os.getpid(), "gateway": gateway}))
    lock.flush()


def prereqs(command: str) -> int:
    try:
        for binary in PREREQUISITES[command]:
            progress(f"{binary}: {require(binary)}")
    except MissingPrerequisite as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def rate_from_env(environ: Mapping[str, str], kind: str) -> tuple[str, int] | None:
    """``GATEWAY_<KIND>_RATE`` (nginx syntax: ``300r/s``, ``10r/m``) and its burst,
    ``GATEWAY_<KIND>_BURST`` or twice the rate's count (the defaults' own ratio: 300r/s,
    600); None when the rate is not set."""
    rate = environ.get(f"GATEWAY_{kind}_RATE", "").strip()
    burst = environ.get(f"GATEWAY_{kind}_BURST", "").strip()
    if not rate:
        if burst:
            raise ValueError(f"GATEWAY_{kind}_BURST needs GATEWAY_{kind}_RATE")
        return None
    if not RATE.match(rate):
        raise ValueError(f"GATEWAY_{kind}_RATE must look like 300r/s or 10r/m, not {rate!r}")
    if burst and not burst.isdigit():
        raise ValueError(f"GATEWAY_{kind}_BURST must be a whole number, not {burst!r}")
    return rate, int(burst) if burst else 2 * int(rate.split("r/")[0])


def rates_from_env(environ: Mapping[str, str]) -> GatewayRates:
    """The gateway's per-address limits from the environment, so a load test needs no file
    edits: GATEWAY_API_RATE (everything but login/register), GATEWAY_AUTH_RATE."""
    rates: GatewayRates = {}
    if (api := rate_from_env(environ, "API")) is not None:
        rates["api_rate"], rates["api_burst"] = api
    if (auth := rate_from_env(environ, "AUTH")) is not None:
        rates["auth_rate"], rates["auth_burst"] = auth
    for kind, given in (("api", api), ("login/register", auth)):
        if given is not None:
            progress(f"gateway limit per address, {kind}: {given[0]} (burst {given[1]})")
    return rates


def run(port: int | None) -> int:
    try:
        rates = rates_from_env(os.environ)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state_dir = prepare_state_dir(default_state_dir())
    progress(f"state (database, Redis, mail, logs) in {state_dir}; `make clean` removes it")
    lock = take_lock(state_dir)
    stack = Stack(state_dir, gateway_port=choose_port(port), gateway_rates=rates)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stack.start()
    except (MissingPrerequisite, FolderNotReachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        url = stack.gateway_url
        record_lock(lock, gateway=url)
        print(f"\nKanban platform is up.\n  Gateway:  {url}\n"
              f"  API docs: {url}/api/schema/swagger/  (per service: {url}/docs/identity/)\n"
              f"  Health:   {url}/healthz\n  Mail:     {stack.smtp.mail_dir}\n"
              f"  Logs:     {stack.state_dir / 'logs'}\n  State:    {stack.state_dir}\n"
              f"Press Ctrl-C to stop.", flush=True)
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C (or make passing its SIGINT on) must not cut the clean shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        progress("stopping")
        stack.stop()
        progress("stopped")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start everything and wait for Ctrl-C")
    run_parser.add_argument("--port", type=int, default=None,
                            help=f"gateway port, exactly (default {DEFAULT_PORT}, or a free "
                                 f"port if that one is taken)")
    prereqs_parser = sub.add_parser("prereqs", help="install/check the system binaries")
    prereqs_parser.add_argument("for_command", choices=sorted(PREREQUISITES), nargs="?",
                                default="run")
    args = parser.parse_args()
    if args.command == "prereqs":
        return prereqs(args.for_command)
    return run(args.port)


if __name__ == "__main__":
    sys.exit(main())
