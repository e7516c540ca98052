"""Private infrastructure processes for the native stack and the tests: a PostgreSQL cluster,
redis-server, an SMTP sink and nginx, each a child process on a free local port under a
state folder. Nothing here touches a server it did not start."""

from __future__ import annotations

import ctypes
import email
import email.policy
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import psycopg

# Debian packages that provide each binary (installed with apt-get when run as root).
DEBIAN_PACKAGES = {
    "postgres": "postgresql",
    "redis-server": "redis-server",
    "nginx": "nginx-light libnginx-mod-http-js libnginx-mod-http-lua",
    "wrk": "wrk",
    "chromium": "chromium",
    "docker-compose": "docker-compose",
}
# The gateway's dynamic modules (njs, Lua and the NDK that Lua needs) and where Debian-like
# systems keep them.
NGINX_MODULES = ("ngx_http_js_module.so", "ndk_http_module.so", "ngx_http_lua_module.so")
NGINX_MODULES_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/etc/nginx/modules")
UNPRIVILEGED_USER = "nobody"


class MissingPrerequisite(RuntimeError):
    pass


def progress(message: str) -> None:
    print(f"[devstack] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None,
                  name: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name or 'process'} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{name or 'process'} did not listen on port {port} in {timeout}s")


def _apt_install(packages: str) -> None:
    progress(f"installing Debian packages: {packages} (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(["apt-get", "install", "-y", "-q", *packages.split()], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", *packages.split()], env=env,
                       stdout=subprocess.DEVNULL, check=True)


def _find(binary: str) -> str | None:
    if binary in ("postgres", "initdb"):
        candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"), reverse=True)
        if candidates:
            return candidates[0]
    return shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists()
                                    else None)


def require(binary: str) -> str:
    """Path of a system binary, installed with apt-get if we are root; else a clear error."""
    path = _find(binary)
    if binary == "nginx" and path and not nginx_modules_dir():
        path = None
    if path:
        return path
    package = DEBIAN_PACKAGES["postgres" if binary == "initdb" else binary]
    if os.geteuid() == 0 and shutil.which("apt-get"):
        _apt_install(package)
        path = _find(binary)
    if not path:
        raise MissingPrerequisite(
            f"'{binary}' not found: install the Debian package(s) '{package}' "
            f"(sudo apt-get install {package})")
    return path


def nginx_modules_dir() -> str | None:
    """The folder holding all of the gateway's nginx modules (NGINX_MODULES), if any."""
    return next((folder for folder in NGINX_MODULES_DIRS
                 if all(Path(folder, module).exists() for module in NGINX_MODULES)), None)


def _die_with_parent() -> None:
    """Child processes get SIGTERM when the launcher/pytest dies, even on kill -9."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def as_user(user: str | None) -> dict:
    """Popen arguments that drop to ``user`` with its own group and no supplementary groups
    (keeping root's group would deny access through root-owned, group-closed folders)."""
    if user is None:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def spawn(argv: list[str], *, log_path: Path, env: dict[str, str] | None = None,
          user: str | None = None, cwd: Path | None = None) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    return subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, cwd=cwd, **as_user(user),
                            preexec_fn=_die_with_parent, start_new_session=True)


def stop_process(process: subprocess.Popen | None, sig: int = signal.SIGTERM,
                 timeout: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class Postgres:
    """A private cluster, run as an unprivileged user when we are root (initdb refuses root)."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str, driver: str = "psycopg") -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> Postgres:
        initdb, postgres = require("initdb"), require("postgres")
        data = self.root / "pgdata"
        user = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        self.root.mkdir(parents=True, exist_ok=True)
        if user:
            pw = pwd.getpwnam(user)
            for path in (self.root, *self.root.parents):
                if path == Path("/"):
                    break
                # The unprivileged user must reach its folder: grant traverse (x) only.
                os.chmod(path, os.stat(path).st_mode | 0o001)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        if not (data / "PG_VERSION").exists():
            progress(f"initdb {data}")
            # cwd: the unprivileged user may not be allowed into the caller's directory.
            result = subprocess.run([initdb, "-D", str(data), "-U", "postgres", "-A", "trust",
                                     "-E", "UTF8", "--no-sync"], cwd=self.root, **as_user(user),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"initdb failed: {result.stderr.strip()}")
        self.process = spawn(
            [postgres, "-D", str(data), "-p", str(self.port), "-k", str(self.root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=400", "-c", "shared_buffers=256MB"],
            log_path=self.root / "postgres.log", user=user, cwd=self.root)
        wait_for_port(self.port, 60, self.process, "postgres")
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        progress(f"postgres listening on 127.0.0.1:{self.port}")
        return self

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        # SIGINT = "fast" shutdown: disconnect clients, stop at once.
        stop_process(self.process, signal.SIGINT)


@dataclass
class Redis:
    root: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = True
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        binary = require("redis-server")
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = spawn(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--save", "", "--appendonly", "yes" if self.appendonly else "no",
             "--appendfsync", "everysec", "--daemonize", "no"],
            log_path=self.root / "redis.log")
        wait_for_port(self.port, 30, self.process, "redis-server")
        progress(f"redis listening on 127.0.0.1:{self.port}")
        return self

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class SmtpSink:
    """The aiosmtpd sink (``python -m devstack.smtp_sink``): one .eml file per message."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    def start(self) -> SmtpSink:
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.process = spawn([sys.executable, "-m", "devstack.smtp_sink", "--port",
                              str(self.port), "--mail-dir", str(self.mail_dir)],
                             log_path=self.root / "smtp.log")
        wait_for_port(self.port, 30, self.process, "smtp sink")
        progress(f"smtp sink listening on 127.0.0.1:{self.port}, mail in {self.mail_dir}")
        return self

    def messages(self) -> list[Path]:
        return sorted(self.mail_dir.glob("*.eml"))

    def received(self) -> list[EmailMessage]:
        """Every message received so far, parsed, oldest file name first."""
        return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in self.messages()]  # type: ignore[misc]  # policy.default -> EmailMessage

    def stop(self) -> None:
        stop_process(self.process)
