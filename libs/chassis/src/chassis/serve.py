"""Runs services in this process: ``python -m chassis.serve <service>... [--role ROLE]``.

A *role* is a service's API (``api``) or one of its worker kinds (``relay``, ``consumer``,
``mailer``, ``scanner``: the keys of ``<service>.main.WORKERS``); ``all``, the default, is
the API and every worker kind. Each role is a task of this process's one event loop, so how
many processes run the platform is a deployment choice, not a code path:

* natively, the launcher runs every service with ``--role all`` in one process;
* in containers each role runs alone (``--role api``, ``--role consumer``...), so each can
  be scaled and restarted on its own.

API processes: with ``--api-processes`` N > 1 (default ``WEB_CONCURRENCY``, else one per
two cores), the APIs' sockets are bound first and the process forks N - 1 more that serve
the same sockets, so requests use more cores; the kernel spreads the connections. Only the
first process runs the workers. Forked after the imports, the others share the code's
memory with it.

Services sharing a process share only the interpreter: each keeps its own settings (its
env prefix), port, database pool, Redis clients and consumer group, and each log line
names its service and role. A role never ends on its own: workers retry their
dependencies with backoff. If one does end (an API that cannot bind its port or fails to
start, a bug), the process stops the others and exits 1 for its supervisor to restart it
whole; SIGTERM or SIGINT stop every role cleanly (APIs finish in-flight requests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import importlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol, cast

import structlog
import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chassis.logging import configure_logging, get_logger
from chassis.settings import ServiceSettings
from chassis.worker import Worker, run_until_signalled

log = get_logger(__name__)

API = "api"
ALL = "all"
GRACEFUL_SHUTDOWN_SECONDS = 5
LEVELS = logging.getLevelNamesMapping()
PR_SET_PDEATHSIG = 1   # prctl(2)


class Role(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers (the host's handler stops every role), and
    saying when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """A service's API (``<service>.main:create_app``) served by uvicorn on ``host:port``."""

    def __init__(self, service: str, *, host: str, port: int) -> None:
        self.service = service
        self._stopping = False
        self.sockets: list[socket.socket] = []
        # log_config=None: the service's own logging (JSON lines) applies to uvicorn too.
        self.server = _EmbeddedServer(uvicorn.Config(
            f"{service}.main:create_app", factory=True, host=host, port=port,
            access_log=False, log_config=None, lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS))

    def bind(self) -> None:
        """Takes the API's port now, before the process forks its API processes (they all
        accept connections on this one socket). Exits 1 naming the port if it is taken."""
        try:
            self.sockets = [self.server.config.bind_socket()]
        except SystemExit:
            log.error("api_bind_failed", api=self.service, host=self.server.config.host,
                      port=self.server.config.port)
            raise SystemExit(1) from None

    async def run(self) -> None:
        try:
            await self.server.serve(sockets=self.sockets or None)
        except SystemExit as exc:
            # uvicorn exits the interpreter when it cannot bind the port or load the app;
            # here that is one role failing, which the host handles.
            raise RuntimeError(f"the {self.service} API could not start "
                               f"(uvicorn exit {exc.code})") from None
        if not self._stopping:
            raise RuntimeError(f"the {self.service} API stopped (see the lines above)")

    def stop(self) -> None:
        self._stopping = True
        self.server.should_exit = True


class ApiProcesses:
    """The other processes serving this process's APIs (forked by :func:`fork_api_process`),
    as a role: it ends with an error if one of them dies (the host then stops and exits for
    its supervisor to start everything again), and stopping it stops them."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self._stopping = False

    async def run(self) -> None:
        # A thread per child blocks in waitpid: no polling, woken exactly when one ends.
        waits = {asyncio.create_task(asyncio.to_thread(os.waitpid, pid, 0))
                 for pid in self.pids}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        unexpected = not self._stopping
        if unexpected:
            self._signal(signal.SIGTERM)
        if pending:
            _, still = await asyncio.wait(pending, timeout=GRACEFUL_SHUTDOWN_SECONDS + 5)
            if still:
                self._signal(signal.SIGKILL)
                await asyncio.wait(still)
        if unexpected:
            pid, status = next(iter(done)).result()
            raise RuntimeError(f"API process {pid} ended (exit code "
                               f"{os.waitstatus_to_exitcode(status)})")

    def stop(self) -> None:
        self._stopping = True
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, sig)


def fork_api_process(apis: Mapping[str, ApiServer]) -> int:
    """Forks a process that serves ``apis`` on their (already bound) sockets and nothing
    else; returns its pid. Forked after every import (and with the import-time heap frozen),
    so the code's memory is shared with this process, page for page, until written."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        # Dies with its parent, even if the parent is killed with -9.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        host = Host(apis)
        run_until_signalled(host.run, host.stop)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        log.exception("api_process_failed")
    finally:
        os._exit(code)


def workers_of(service: str) -> Mapping[str, Callable[[], Worker]]:
    """``<service>.main.WORKERS``: worker kind -> how to build one."""
    module = importlib.import_module(f"{service}.main")
    return cast(Mapping[str, Callable[[], Worker]], getattr(module, "WORKERS", {}))


def roles_of(service: str, role: str, *, host: str | None = None,
             port: int | None = None) -> dict[str, Role]:
    """``{"<service>-<role>": role}`` for ``role`` (a kind, ``api`` or ``all``) of
    ``service``; an API's address comes from the arguments or the service's settings."""
    workers = workers_of(service)
    known = [API, *workers]
    if role != ALL and role not in known:
        raise ValueError(f"{service} has no role {role!r} (it has: {', '.join(known)})")
    roles: dict[str, Role] = {}
    if role in (API, ALL):
        settings = ServiceSettings.for_service(service)
        roles[service] = ApiServer(service, host=host or settings.http_host,
                                   port=port or settings.http_port)
    for kind, build in workers.items():
        if role in (kind, ALL):
            roles[f"{service}-{kind}"] = build()
    return roles


class Host:
    """Runs roles as tasks until stopped, or until one ends by itself (then exits 1)."""

    def __init__(self, roles: Mapping[str, Role]) -> None:
        self.roles = dict(roles)
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True
        for role in self.roles.values():
            role.stop()

    async def _run(self, name: str, role: Role) -> None:
        # Each task has its own context: its log lines name this role.
        structlog.contextvars.bind_contextvars(service=name)
        try:
            await role.run()
        except Exception:
            log.exception("role_failed")
            raise
        if not self._stopping:
            log.error("role_ended")

    async def _freeze_when_started(self) -> None:
        """Once every API has started, moves everything allocated so far (modules, apps,
        compiled statements) out of the garbage collector's sight: a full collection then
        scans only what requests allocate, not the whole process (every service's code)."""
        apis = [role for role in self.roles.values() if isinstance(role, ApiServer)]
        for api in apis:
            await api.server.listening.wait()
        gc.collect()
        gc.freeze()
        log.info("host_ready", frozen_objects=gc.get_freeze_count())

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._run(name, role), name=name)
                 for name, role in self.roles.items()]
        log.info("host_started", roles=list(self.roles))
        freezing = asyncio.create_task(self._freeze_when_started())
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        freezing.cancel()
        failed = not self._stopping
        self.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        if failed:
            raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chassis.serve",
        description="Run services' APIs and workers in this process.")
    parser.add_argument("services", nargs="+", metavar="SERVICE",
                        help="e.g. boards (several share the process)")
    parser.add_argument("--role", default=ALL,
                        help="api, a worker kind (relay, consumer, mailer, scanner) or all "
                             "(default)")
    parser.add_argument("--host", help="the APIs' address (default: each service's "
                                       "<PREFIX>HTTP_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int,
                        help="the API's port, with one service (default: <PREFIX>HTTP_PORT)")
    parser.add_argument("--api-processes", type=int, metavar="N",
                        help="processes serving the APIs (default: WEB_CONCURRENCY, else one "
                             "per two cores); the first also runs the workers")
    args = parser.parse_args(argv)
    if args.api_processes is not None and args.api_processes < 1:
        parser.error("--api-processes must be at least 1")
    if args.port is not None and len(args.services) > 1:
        parser.error("--port names one API's port: give each service <PREFIX>HTTP_PORT")
    roles: dict[str, Role] = {}
    try:
        levels = [ServiceSettings.for_service(s).log_level.upper() for s in args.services]
        # One log configuration per process: the most verbose level any service asks.
        configure_logging(args.services[0],
                          min(levels, key=lambda name: LEVELS.get(name, logging.INFO)))
        for service in args.services:
            roles |= roles_of(service, args.role, host=args.host, port=args.port)
    except (ValueError, ImportError) as exc:   # settings refused, unknown service or role
        parser.error(str(exc))
    apis = {name: role for name, role in roles.items() if isinstance(role, ApiServer)}
    processes = api_processes(args.api_processes) if apis else 1
    if processes > 1:
        # Shared sockets, bound before the fork. (Measured: uvicorn serving a socket it is
        # given is markedly slower here than one it binds itself, so one process binds its
        # own.)
        for api in apis.values():
            api.bind()
        # What the imports made is shared with the forks: keep the collector off it.
        gc.collect()
        gc.freeze()
        pids = [fork_api_process(apis) for _ in range(processes - 1)]
        roles["api-processes"] = ApiProcesses(pids)
        log.info("api_processes_started", processes=processes, pids=pids)
    host = Host(roles)
    run_until_signalled(host.run, host.stop)


class ProcessSettings(BaseSettings):
    """Settings of the whole process rather than of one service (no prefix)."""

    model_config = SettingsConfigDict(extra="ignore")

    # Processes serving the APIs (the usual name, as uvicorn and gunicorn read it).
    web_concurrency: int | None = Field(default=None, ge=1, le=64)


def api_processes(requested: int | None) -> int:
    """How many processes serve the APIs: ``--api-processes``, else ``WEB_CONCURRENCY``,
    else one per two cores. Each process is one event loop on one core, and the APIs share
    the machine with PostgreSQL, Redis and the gateway, which need the other half (measured
    on two cores: one API process serves more than two; docs/performance.md)."""
    return requested or ProcessSettings().web_concurrency or max(1, (os.cpu_count() or 1) // 2)


if __name__ == "__main__":
    main(sys.argv[1:])
