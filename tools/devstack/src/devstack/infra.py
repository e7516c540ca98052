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
import tempfile
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TypedDict

import psycopg

# Debian packages that provide each binary (installed with apt-get when run as root).
DEBIAN_PACKAGES = {
    "postgres": "postgresql",
    "redis-server": "redis-server",
    "nginx": "nginx-light libnginx-mod-http-js libnginx-mod-http-lua",
    "wrk": "wrk",
    "chromium": "chromium",
    "docker-compose": "docker-compose",
    "curl": "curl",
}
# The gateway's dynamic modules (njs, Lua and the NDK that Lua needs) and where Debian-like
# systems keep them.
NGINX_MODULES = ("ngx_http_js_module.so", "ndk_http_module.so", "ngx_http_lua_module.so")
NGINX_MODULES_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/etc/nginx/modules")
# When we are root, PostgreSQL runs as this user (initdb refuses root): Debian's postgresql
# package creates it; "nobody" is the fallback on systems without it.
DATABASE_USERS = ("postgres", "nobody")


class MissingPrerequisite(RuntimeError):
    pass


class FolderNotReachable(RuntimeError):
    """A folder that a process running as another user must reach is closed to it."""


def database_user() -> str | None:
    """Who runs PostgreSQL: ourselves, unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in DATABASE_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise MissingPrerequisite("no unprivileged user to run PostgreSQL as: install the Debian "
                              "package 'postgresql' (it creates the user 'postgres')")


def closed_ancestor(path: Path, user: str | None) -> Path | None:
    """The first folder on the way to ``path`` that ``user`` cannot pass through (no search
    permission for it), or None. We never open such a folder up: it is not ours to change."""
    if user is None:
        return None
    pw = pwd.getpwnam(user)
    folder = Path("/")
    for part in path.resolve().parts[1:]:
        folder = folder / part
        if not folder.exists():
            break
        st = folder.stat()
        if st.st_uid == pw.pw_uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid == pw.pw_gid:
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed:
            return folder
    return None


def require_reachable(path: Path, user: str | None, who: str) -> None:
    """Stops with a clear message when ``who`` (running as ``user``) cannot reach ``path``."""
    if (closed := closed_ancestor(path, user)) is not None:
        raise FolderNotReachable(
            f"{who} runs as user '{user}' and cannot enter {closed} (mode "
            f"{closed.stat().st_mode & 0o777:o}), on the way to {path}. Use a state folder it "
            f"can reach (KANBAN_STATE_DIR; `make run` as root uses /var/lib/kanban/...). "
            f"Nothing here changes the permissions of folders it did not create.")


class ScratchArea:
    """Temporary folders that the stack's unprivileged processes (PostgreSQL, nginx's workers)
    can reach, for tests and benchmarks: one folder made for this purpose under the system's
    temp folder (sticky and open to all), mode 0711, removed as a whole by :meth:`remove`.
    pytest's own tmp_path lives under a 0700 folder that those users cannot enter."""

    def __init__(self, prefix: str = "kanban-") -> None:
        base = Path(tempfile.gettempdir())
        if closed_ancestor(base, "nobody" if os.geteuid() == 0 else None) is not None:
            base = Path("/tmp")
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
        self.root.chmod(0o711)   # made here, by us: others may pass through, not list it
        self._count = 0

    def mktemp(self, name: str) -> Path:
        self._count += 1
        path = self.root / f"{name}{self._count}"
        path.mkdir()
        path.chmod(0o711)
        return path

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ScratchArea:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def progress(message: str) -> None:
    print(f"[devstack] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None,
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


class UserArgs(TypedDict, total=False):
    """The Popen/run arguments of :func:`as_user`."""

    user: int
    group: int
    extra_groups: list[int]


def as_user(user: str | None) -> UserArgs:
    """Popen arguments that drop to ``user`` with its own group and no supplementary groups
    (keeping root's group would deny access through root-owned, group-closed folders)."""
    if user is None:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def spawn(argv: list[str], *, log_path: Path, env: dict[str, str] | None = None,
          user: str | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    return subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, cwd=cwd, **as_user(user),
                            preexec_fn=_die_with_parent, start_new_session=True)


def stop_process(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM,
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
    """A private cluster under ``root``, run as an unprivileged user when we are root (initdb
    refuses root). ``crash_safe`` keeps PostgreSQL's durable defaults (fsync, synchronous
    commit, full page writes): the run mode's choice. Tests turn it off for speed, since their
    clusters are thrown away; a killed or powered-off unsafe cluster loses acknowledged
    commits and can be corrupted."""

    root: Path
    port: int = field(default_factory=free_port)
    crash_safe: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str, driver: str = "psycopg") -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    def _settings(self) -> list[str]:
        settings = ["listen_addresses=127.0.0.1", "max_connections=400", "shared_buffers=256MB"]
        if not self.crash_safe:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        return [arg for setting in settings for arg in ("-c", setting)]

    def start(self) -> Postgres:
        initdb, postgres = require("initdb"), require("postgres")
        data = self.data_dir
        user = database_user()
        require_reachable(self.root.parent, user, "PostgreSQL")
        self.root.mkdir(parents=True, exist_ok=True)
        if user:
            pw = pwd.getpwnam(user)
            # Our own folder, made just above (or by an earlier run): PostgreSQL's from now on.
            if self.root.stat().st_uid != pw.pw_uid:
                os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.root.chmod(0o700)
        if not (data / "PG_VERSION").exists():
            progress(f"initdb {data}")
            # cwd: the unprivileged user may not be allowed into the caller's directory.
            result = subprocess.run([initdb, "-D", str(data), "-U", "postgres", "-A", "trust",
                                     "-E", "UTF8", *([] if self.crash_safe else ["--no-sync"])],
                                    cwd=self.root, **as_user(user),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"initdb failed: {result.stderr.strip()}")
        self.process = spawn(
            [postgres, "-D", str(data), "-p", str(self.port), "-k", str(self.root),
             *self._settings()],
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
        progress(f"postgres listening on 127.0.0.1:{self.port}"
                 f"{'' if self.crash_safe else ' (fast, not crash-safe: for tests)'}")
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
    """redis-server with its append-only file under ``root``. ``crash_safe`` fsyncs the file
    before every reply (``appendfsync always``, about 0.2 ms here): a stream entry the relay
    was told is written survives a power cut, so the relay never marks as published an event
    that could vanish. Tests use ``everysec`` (up to a second of writes lost on a crash)."""

    root: Path
    port: int = field(default_factory=free_port)
    crash_safe: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        binary = require("redis-server")
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.process = spawn(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--save", "", "--appendonly", "yes",
             "--appendfsync", "always" if self.crash_safe else "everysec",
             "--daemonize", "no"],
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
    process: subprocess.Popen[bytes] | None = None

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    def start(self) -> SmtpSink:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)   # people's e-mail
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
                for path in self.messages()]

    def stop(self) -> None:
        stop_process(self.process)
