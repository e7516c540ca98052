"""The nginx (njs + Lua) API gateway as a child process: renders ``gateway/nginx.conf.template``
into ``<root>/nginx.conf`` and runs nginx in the foreground (see gateway/README.md)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from devstack.infra import (
    free_port,
    nginx_modules_dir,
    progress,
    require,
    require_reachable,
    spawn,
    stop_process,
    wait_for_port,
)
from devstack.topology import load as load_topology

# The upstreams of the template (topology.toml): every service with routes or a health
# endpoint; the template's placeholder for each is <PREFIX>UPSTREAM.
SERVICES = load_topology().gateway_upstreams
UPSTREAM_VARIABLES = {s.name: s.upstream_variable for s in load_topology().services
                      if s.name in SERVICES}
# Where a service that is not running "answers": nothing listens on port 1 (tcpmux), so the
# route fails fast with connection refused -> 502 problem+json.
CLOSED_UPSTREAM = "127.0.0.1:1"
DEFAULT_MODULES_DIR = "/usr/lib/nginx/modules"
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
RATE = re.compile(r"^[1-9][0-9]*r/[sm]$")   # nginx limit_req_zone syntax
_TOKEN_TEXT = re.compile(r"^[A-Za-z0-9._:/@-]+$")   # issuer/audience go into an nginx string
_UNIX_PATH_MAX = 100                                 # sun_path is 108 bytes


def render_template(text: str, values: dict[str, str]) -> str:
    """Replaces ``${NAME}`` for the names in ``values`` (nginx's own ``$var``/``${var}`` stay)
    and refuses to leave an upper-case placeholder unfilled."""
    missing = sorted({name for name in _PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise ValueError(f"template placeholders without a value: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def gateway_dir() -> Path:
    """The repository's ``gateway/`` folder (template + auth.js), found by walking up."""
    if override := os.environ.get("KANBAN_GATEWAY_DIR"):
        return Path(override).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "gateway" / "nginx.conf.template").is_file():
            return parent / "gateway"
    raise FileNotFoundError("gateway/nginx.conf.template not found above "
                            f"{Path(__file__).parent}; set KANBAN_GATEWAY_DIR")


# What nginx reads from gateway/ besides the template: copied next to the rendered config, in
# the gateway's own folder, so that its workers (nobody, when we are root) never need to read
# the checkout, which may sit in a folder closed to them (a home directory is 0700).
RUNTIME_FILES = ("*.js", "*.lua")
WORKER_USER = "nobody"   # nginx's default worker user when the master runs as root


class GatewayRates(TypedDict, total=False):
    """Request rate limits of a :class:`Gateway` (its fields of the same names)."""

    auth_rate: str
    auth_burst: int
    api_rate: str
    api_burst: int


@dataclass
class Gateway:
    root: Path                     # state folder: nginx.conf, logs, pid, temp dirs
    upstreams: dict[str, str]      # {"identity": "127.0.0.1:8001", ...}; missing -> closed port
    port: int = field(default_factory=free_port)
    issuer: str = "kanban-identity"
    audience: str = "kanban"
    auth_rate: str = "10r/s"
    auth_burst: int = 20
    api_rate: str = "300r/s"
    api_burst: int = 600
    host: str = "127.0.0.1"        # listen address ("0.0.0.0" to serve other machines)
    workers: str = "auto"          # worker_processes
    # Static docs (merged OpenAPI, Swagger UI, event catalog) from `python -m devstack.docs
    # build`; default: an empty <root>/docs, so those routes answer 404 until built.
    docs_dir: Path | None = None
    extra_values: dict[str, str] = field(default_factory=dict)  # more ${NAME}s
    process: subprocess.Popen[bytes] | None = None
    cache_dir: Path | None = None  # memory-backed auth cache, made by render()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def conf_path(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def access_log(self) -> Path:
        return self.root / "logs" / "access.log"

    @property
    def log_path(self) -> Path:
        """nginx's own output: startup messages and the error log."""
        return self.root / "logs" / "nginx.log"

    def _validator_listen(self) -> str:
        socket_path = self.root / "validator.sock"
        if len(str(socket_path)) <= _UNIX_PATH_MAX:
            socket_path.unlink(missing_ok=True)   # left over by a killed nginx: bind would fail
            return f"unix:{socket_path}"
        return f"127.0.0.1:{free_port()}"

    def _make_cache_dir(self) -> Path:
        # /dev/shm keeps the auth cache in memory (never on disk, fast); else under root.
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.root
        # One name per state folder: what a killed run of this gateway left is cleared here
        # instead of piling up in memory.
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        path = base / f"kanban-gateway-auth-{digest}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        path.chmod(0o711)   # nginx creates (and chowns to its worker user) the folders inside
        return path

    def _docs_dir(self) -> Path:
        docs = (self.docs_dir or self.root / "docs").resolve()
        docs.mkdir(parents=True, exist_ok=True)
        return docs

    def render(self) -> Path:
        for name, rate in (("auth_rate", self.auth_rate), ("api_rate", self.api_rate)):
            if not RATE.match(rate):
                raise ValueError(f"{name} must look like '10r/s' or '60r/m', not {rate!r}")
        for name, value in (("issuer", self.issuer), ("audience", self.audience)):
            if not _TOKEN_TEXT.match(value):
                raise ValueError(f"{name} has characters nginx config cannot carry: {value!r}")
        unknown = set(self.upstreams) - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown upstream(s) {sorted(unknown)}; known: {SERVICES}")
        self.root = self.root.resolve()
        for sub in ("logs", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if self.cache_dir is None:
            self.cache_dir = self._make_cache_dir()
        source = gateway_dir()
        conf_dir = self._copy_runtime_files(source)
        values = {
            "NGINX_MODULES_DIR": nginx_modules_dir() or DEFAULT_MODULES_DIR,
            "STATE_DIR": str(self.root),
            "AUTH_CACHE_DIR": str(self.cache_dir),
            "GATEWAY_DIR": str(conf_dir),
            "ACCESS_LOG": str(self.access_log),
            "ERROR_LOG": "stderr",   # goes to logs/nginx.log via the child's stderr
            "WORKER_PROCESSES": self.workers,
            "GATEWAY_LISTEN": f"{self.host}:{self.port}",
            "VALIDATOR_LISTEN": self._validator_listen(),
            "JWT_ISSUER": self.issuer,
            "JWT_AUDIENCE": self.audience,
            "AUTH_RATE": self.auth_rate,
            "AUTH_BURST": str(int(self.auth_burst)),
            "API_RATE": self.api_rate,
            "API_BURST": str(int(self.api_burst)),
            **{variable: self.upstreams.get(name, CLOSED_UPSTREAM)
               for name, variable in UPSTREAM_VARIABLES.items()},
            "DOCS_DIR": str(self._docs_dir()),
            **self.extra_values,
        }
        text = render_template((source / "nginx.conf.template").read_text(), values)
        self.conf_path.write_text(text)
        return self.conf_path

    def _copy_runtime_files(self, source: Path) -> Path:
        conf_dir = self.root / "conf"
        shutil.rmtree(conf_dir, ignore_errors=True)
        conf_dir.mkdir()
        for pattern in RUNTIME_FILES:
            for path in sorted(source.glob(pattern)):
                shutil.copyfile(path, conf_dir / path.name)
                (conf_dir / path.name).chmod(0o644)
        conf_dir.chmod(0o755)
        return conf_dir

    def _argv(self, nginx: str) -> list[str]:
        # -e: nginx's early messages go to stderr instead of a compiled-in /var/log path.
        return [nginx, "-c", str(self.conf_path), "-p", f"{self.root}/", "-e", "stderr",
                "-g", "daemon off;"]

    def start(self) -> Gateway:
        nginx = require("nginx")
        # The workers serve files from, and keep temp files and a socket in, our folder.
        require_reachable(self.root, WORKER_USER if os.geteuid() == 0 else None,
                          "nginx's worker")
        self.render()
        check = subprocess.run([*self._argv(nginx), "-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            self._remove_cache_dir()
            raise RuntimeError(f"nginx rejected {self.conf_path}:\n"
                               f"{(check.stderr or check.stdout).strip()}")
        self.process = spawn(self._argv(nginx), log_path=self.log_path)
        try:
            wait_for_port(self.port, 15, self.process, "nginx gateway")
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"the gateway did not start ({exc}); see {self.log_path}") from exc
        progress(f"gateway listening on {self.url} (logs in {self.root / 'logs'})")
        return self

    def _remove_cache_dir(self) -> None:
        if self.cache_dir is not None:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
            self.cache_dir = None

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
        self._remove_cache_dir()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
