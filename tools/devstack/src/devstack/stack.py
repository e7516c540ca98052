"""The whole platform as child processes: infrastructure, migrations, every service that
exists in this checkout (API and workers), and the gateway in front.

Services run under ``python -m chassis.serve``. By default every service and every role
shares one process (``--role all``: the native default, the smallest footprint); with
``split_roles=True`` each API and each worker kind is a process of its own, as in compose,
for tests that kill one kind. Used by ``make run`` (``python -m devstack run``), by tests/e2e
and by the benchmarks."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.gateway import SERVICES as GATEWAY_UPSTREAMS
from devstack.gateway import Gateway, GatewayRates
from devstack.infra import (
    Postgres,
    Redis,
    SmtpSink,
    free_port,
    progress,
    spawn,
    stop_process,
    wait_for_port,
)
from devstack.supervisor import Supervisor
from devstack.topology import Service
from devstack.topology import load as load_topology

DATABASE = "kanban"


def installed(service: Service) -> bool:
    """Whether this checkout has the service's package (``<name>.main``)."""
    return importlib.util.find_spec(service.name) is not None and \
        importlib.util.find_spec(f"{service.name}.main") is not None


# What runs: topology.toml at the repository root (the one table; see devstack.topology).
# A service missing from this checkout is skipped.
SERVICES = list(load_topology().services)

# The one process of every service's roles (the native default), in logs and the supervisor.
HOST = "services"


@dataclass
class ServiceProcesses:
    """A service's port and, with split roles, its own processes."""

    spec: Service
    port: int
    env: dict[str, str]
    api: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Stack:
    """Start with :meth:`start` (or ``with Stack(...) as stack``); :meth:`stop` ends it all."""

    def __init__(self, state_dir: Path, *, env: dict[str, str] | None = None,
                 gateway_port: int | None = None, gateway_rates: GatewayRates | None = None,
                 services: list[str] | None = None, crash_safe: bool = True,
                 supervise: bool = True, split_roles: bool = False,
                 api_processes: int | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.extra_env = env or {}
        self.gateway_port = gateway_port
        self.gateway_rates: GatewayRates = gateway_rates or {}
        wanted = [s for s in SERVICES if services is None or s.name in services]
        self.specs = [s for s in wanted if installed(s)]
        # crash_safe=False (tests, benchmarks of code paths): fast and disposable stores.
        self.postgres = Postgres(self.state_dir / "postgres", crash_safe=crash_safe)
        self.redis = Redis(self.state_dir / "redis", crash_safe=crash_safe)
        self.smtp = SmtpSink(self.state_dir / "smtp")
        self.services: dict[str, ServiceProcesses] = {}
        # One process for everything (None with split roles, or before start).
        self.split_roles = split_roles
        # Processes serving the APIs (chassis.serve's default: WEB_CONCURRENCY, else cores).
        self.api_processes = api_processes
        self.host: subprocess.Popen[bytes] | None = None
        self.gateway: Gateway | None = None
        # Off for the fault tests that stop and start parts themselves.
        self.supervisor = Supervisor(self.state_dir / "logs" / "supervisor.log") \
            if supervise else None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        started = time.monotonic()
        try:
            self.postgres.start()
            self.redis.start()
            self.smtp.start()
            self.database_url = self._ensure_database()
            # Ports first: a service's settings name the services it reads through to.
            self.ports = {spec.name: free_port() for spec in self.specs}
            for spec in self.specs:
                self._prepare_service(spec)
            self._migrate()
            if self.split_roles:
                for service in self.services.values():
                    self._spawn_roles(service)
            else:
                self._spawn_host()
            self.docs_dir = self._build_docs()
            for service in self.services.values():
                self._wait_ready(service, workers_beating=True)
            self._start_gateway()
            self._supervise()
        except BaseException:
            self.stop()
            raise
        progress(f"stack up in {time.monotonic() - started:.1f}s: "
                 f"{', '.join(s.name for s in self.specs)}")
        return self

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.gateway is not None:
            self.gateway.stop()
        stop_process(self.host)
        for service in self.services.values():
            for process in service.workers.values():
                stop_process(process)
            stop_process(service.api)
        self.smtp.stop()
        self.redis.stop()
        self.postgres.stop()

    # -- pieces ------------------------------------------------------------------------------

    def _ensure_database(self) -> str:
        import psycopg

        with psycopg.connect(self.postgres.admin_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (DATABASE,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return self.postgres.url(DATABASE)

    def service_env(self, spec: Service) -> dict[str, str]:
        p = spec.env_prefix
        identity_url = f"http://127.0.0.1:{self.ports.get('identity', 0)}"
        env = {
            f"{p}DATABASE_URL": self.database_url,
            f"{p}REDIS_URL": self.redis.url,
            f"{p}JWKS_URL": f"{identity_url}/.well-known/jwks.json",
            f"{p}IDENTITY_URL": identity_url,
            f"{p}WORKSPACE_URL": f"http://127.0.0.1:{self.ports.get('workspace', 0)}",
            f"{p}STATE_DIR": str(self.state_dir),
            f"{p}SMTP_HOST": "127.0.0.1",
            f"{p}SMTP_PORT": str(self.smtp.port),
            f"{p}HTTP_HOST": "127.0.0.1",
            f"{p}HTTP_PORT": str(self.ports[spec.name]),
            "PYTHONUNBUFFERED": "1",
        }
        # Extra settings apply to every service: KANBAN_X -> <PREFIX>X; <PREFIX>... as given.
        for key, value in self.extra_env.items():
            if key.startswith("KANBAN_"):
                env[p + key.removeprefix("KANBAN_")] = value
            elif key.startswith(p):
                env[key] = value
        return env

    def _prepare_service(self, spec: Service) -> None:
        self.services[spec.name] = ServiceProcesses(spec=spec, port=self.ports[spec.name],
                                                    env=self.service_env(spec))

    def _all_services_env(self) -> dict[str, str]:
        return {key: value for service in self.services.values()
                for key, value in service.env.items()}

    def _migrate(self) -> None:
        """Every service's schema to head, in a process of its own (see chassis.migrate)."""
        names = list(self.services)
        progress(f"migrating {', '.join(names)}")
        log_path = self.state_dir / "logs" / "migrate.log"
        process = spawn([sys.executable, "-m", "chassis.migrate", *names],
                        log_path=log_path, env=self._all_services_env())
        if process.wait() != 0:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError("migrations failed:\n" + "\n".join(tail))

    def _spawn_roles(self, service: ServiceProcesses) -> None:
        """With split roles: the service's API and each worker kind, a process each."""
        spec, port = service.spec, service.port
        progress(f"starting {spec.name} on 127.0.0.1:{port}: api and "
                 f"{', '.join(spec.workers) or 'no workers'}, one process each")
        self._spawn_api(service)
        for role in spec.workers:
            self._spawn_worker(service, role)

    def _spawn_host(self) -> subprocess.Popen[bytes]:
        """Every service, API and workers, in one process (each API on its own port)."""
        names = list(self.services)
        progress(f"starting {', '.join(names)} in one process (APIs on "
                 + ", ".join(f"{n} :{s.port}" for n, s in self.services.items()) + ")")
        env = self._all_services_env()
        if self.api_processes is not None:
            env["WEB_CONCURRENCY"] = str(self.api_processes)
        self.host = spawn([sys.executable, "-m", "chassis.serve", *names, "--role", "all"],
                          log_path=self.state_dir / "logs" / f"{HOST}.log", env=env)
        return self.host

    def _spawn_api(self, service: ServiceProcesses) -> subprocess.Popen[bytes]:
        service.api = spawn(
            [sys.executable, *service.spec.argv("api")],
            log_path=self.state_dir / "logs" / f"{service.spec.name}-api.log", env=service.env)
        return service.api

    def _spawn_worker(self, service: ServiceProcesses, role: str) -> subprocess.Popen[bytes]:
        service.workers[role] = spawn(
            [sys.executable, *service.spec.argv(role)],
            log_path=self.state_dir / "logs" / f"{service.spec.name}-{role}.log",
            env=service.env)
        return service.workers[role]

    def restart_worker(self, service: str, role: str) -> subprocess.Popen[bytes]:
        """(Re)start one worker kind's process, e.g. after a test killed it (split roles)."""
        assert self.split_roles, "each worker kind has its own process only with split_roles"
        svc = self.services[service]
        stop_process(svc.workers.get(role))
        return self._spawn_worker(svc, role)

    def _supervise(self) -> None:
        """Hands every process to the supervisor with how to start it again (and wait until
        it is usable, for the ones others depend on)."""
        if self.supervisor is None:
            return
        watch = self.supervisor.watch

        def restart_api(service: ServiceProcesses) -> subprocess.Popen[bytes]:
            process = self._spawn_api(service)
            self._wait_ready(service)
            return process

        def restart_host() -> subprocess.Popen[bytes]:
            process = self._spawn_host()
            for service in self.services.values():
                self._wait_ready(service)
            return process

        def restarted(component: Postgres | Redis | SmtpSink | Gateway) -> subprocess.Popen[bytes]:
            component.start()
            assert component.process is not None
            return component.process

        for component, name in ((self.postgres, "postgres"), (self.redis, "redis"),
                                (self.smtp, "smtp-sink"), (self.gateway, "gateway")):
            assert component is not None and component.process is not None
            watch(name, component.process, functools.partial(restarted, component))
        if self.host is not None:
            watch(HOST, self.host, restart_host)
        for service in self.services.values():
            if service.api is None:
                continue
            watch(f"{service.spec.name}-api", service.api,
                  functools.partial(restart_api, service))
            for role, process in service.workers.items():
                watch(f"{service.spec.name}-{role}", process,
                      functools.partial(self._spawn_worker, service, role))

    def _wait_ready(self, service: ServiceProcesses, timeout: float = 60.0, *,
                    workers_beating: bool = False) -> None:
        """Until the service's health endpoint answers 200 and, with ``workers_beating``,
        reports every one of its worker kinds alive (their first heartbeats written: what
        the gateway's /healthz will ask of it)."""
        process = service.api or self.host
        wait_for_port(service.port, timeout, process,
                      f"{service.spec.name} api" if service.api else HOST)
        if service.spec.health is None:
            return
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            try:
                answer = httpx.get(f"{service.url}{service.spec.health}", timeout=2)
                states = answer.json().get("workers", {}) if workers_beating else {}
                if answer.status_code == 200 and all(v == "ok" for v in states.values()):
                    return
                last = f": {answer.status_code} {answer.text[:300]}"
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                last = f": {exc!r}"
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service.spec.name} not ready{last}; see "
                                   f"{self.state_dir / 'logs'}")
            time.sleep(0.1)

    def _build_docs(self) -> Path:
        """The merged OpenAPI document, its Swagger UI and the event catalog, for the gateway
        to serve. A subprocess: building imports every app, which reconfigures logging."""
        out = self.state_dir / "docs"
        progress("building API docs and the event catalog")
        subprocess.run([sys.executable, "-m", "devstack.docs", "build", "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL)
        return out

    def _start_gateway(self) -> None:
        # Every service the gateway routes to or asks for its health (/healthz).
        upstreams = {name: f"127.0.0.1:{svc.port}" for name, svc in self.services.items()
                     if name in GATEWAY_UPSTREAMS}
        self.gateway = Gateway(self.state_dir / "gateway", upstreams,
                               port=self.gateway_port or free_port(),
                               docs_dir=self.docs_dir, **self.gateway_rates).start()

    @property
    def gateway_url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def python_pids(self) -> dict[str, int]:
        """The Python processes running the services: ``{name: pid}`` (the services' process
        and the API processes it forked, or each role's process)."""
        pids = {}
        if self.host is not None:
            pids[HOST] = self.host.pid
            children = Path(f"/proc/{self.host.pid}/task/{self.host.pid}/children")
            with contextlib.suppress(OSError):
                for i, child in enumerate(children.read_text().split(), start=2):
                    pids[f"{HOST} ({i})"] = int(child)
        for name, svc in self.services.items():
            if svc.api is not None:
                pids[f"{name}-api"] = svc.api.pid
            for role, process in svc.workers.items():
                pids[f"{name}-{role}"] = process.pid
        return pids


STATE_ROOT_FOR_ROOT = Path("/var/lib/kanban")


def default_state_dir(checkout: Path | None = None) -> Path:
    """Where ``make run`` keeps its durable state (database, Redis AOF, mail, logs).

    KANBAN_STATE_DIR when set. Otherwise, for an ordinary user, ``.run/`` in the checkout:
    every process runs as that user. For root, PostgreSQL and nginx's workers run as
    unprivileged users who may not enter the checkout (root's home is 0700), so the state
    lives in a folder made for this checkout under /var/lib/kanban/ (``.run`` links to it)."""
    if override := os.environ.get("KANBAN_STATE_DIR"):
        return Path(override)
    checkout = (checkout or Path.cwd()).resolve()
    if os.geteuid() != 0:
        return checkout / ".run"
    digest = hashlib.sha256(str(checkout).encode()).hexdigest()[:10]
    return STATE_ROOT_FOR_ROOT / f"{checkout.name}-{digest}"


def prepare_state_dir(state_dir: Path, checkout: Path | None = None) -> Path:
    """Creates the state folder (and /var/lib/kanban, if we make it, open to traverse) and,
    when it lives outside the checkout, links ``.run`` to it so logs and mail are one ``cd``
    away. Changes the mode of no folder it did not create."""
    checkout = (checkout or Path.cwd()).resolve()
    state_dir = state_dir.resolve()
    for folder in reversed((state_dir, *state_dir.parents)):
        if not folder.exists():
            folder.mkdir()
            # Ours: PostgreSQL's and nginx's users must pass through, nobody may list it.
            folder.chmod(0o711)
    link = checkout / ".run"
    if state_dir != link.resolve() and state_dir.is_relative_to(STATE_ROOT_FOR_ROOT):
        if link.is_symlink():
            link.unlink()
        if link.exists():
            progress(f"note: {link} holds the state of an earlier version (`make clean` "
                     f"removes it); this run keeps its state in {state_dir}")
        else:
            link.symlink_to(state_dir, target_is_directory=True)
    return state_dir
