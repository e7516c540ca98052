"""The platform's topology: what runs, read from ``topology.toml`` at the repository root.

One table says which services exist, their PostgreSQL schema, settings prefix, health
endpoint, what the gateway routes to them and their worker kinds. The native
launcher (``devstack.stack``) and the gateway runner (``devstack.gateway``) take their service
tables from here; the tests check nginx.conf.template, docker-compose.yml and the docs builder
against it. The file format is described at its top.

    from devstack.topology import load
    for service in load().services:
        print(service.name, service.schema, [service.argv(role) for role in service.roles])

``load()`` finds the file through ``KANBAN_TOPOLOGY`` (a path), else by walking up from this
module (the checkout devstack is installed from), else from the working directory. Anything
unexpected in the file (an unknown key, a wrong type, a duplicate name, schema or prefix, two
routes that could match one path) raises :class:`TopologyError` naming the place.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

FILE_NAME = "topology.toml"

RouteMatch = Literal["exact", "below", "path"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")           # a Python package and an nginx upstream
_ROLE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")  # <service>-<role>: container, log file
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]*$")
_ENV_PREFIX = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*_$")
_SEGMENT = r"[A-Za-z0-9._~-]+"
_PATH = re.compile(rf"^(/{_SEGMENT})+/?$")
# The gateway answers these itself (or keeps them internal): no service may be routed there.
RESERVED_ROUTES = ("/healthz", "/health", "/api/schema", "/docs/events", "= /docs")
RESERVED_ROLES = ("api", "all", "migrate")   # roles of chassis.serve, <service>-migrate

_TOP_KEYS = {"api_container_port", "service"}
_SERVICE_KEYS = {"name", "schema", "env_prefix", "health", "docs", "public_routes", "routes",
                 "workers"}


class TopologyError(ValueError):
    """topology.toml is missing, unreadable or says something inconsistent."""


@dataclass(frozen=True)
class Route:
    """One path (or family of paths) the gateway routes to ``service``."""

    path: str              # "/api/v1/users", "/api/v1/auth/", "/.well-known/jwks.json"
    match: RouteMatch      # path: it and below; below: only below (path ends with /); exact
    public: bool           # True: no token needed; False: a valid access token
    service: str

    @classmethod
    def parse(cls, text: str, *, public: bool, service: str) -> Route:
        exact = text.startswith("=")
        path = text[1:].strip() if exact else text
        if not _PATH.match(path) or {".", ".."} & set(path.split("/")):
            raise TopologyError(f"route {text!r}: write '/a/b', '/a/b/' or '= /a/b' "
                                f"(segments of letters, digits, . _ ~ -)")
        if exact:
            if path.endswith("/"):
                raise TopologyError(f"route {text!r}: an exact route has no trailing slash")
            return cls(path, "exact", public, service)
        return cls(path, "below" if path.endswith("/") else "path", public, service)

    def __str__(self) -> str:
        return f"= {self.path}" if self.match == "exact" else self.path

    def matches(self, uri: str) -> bool:
        """Whether the gateway sends ``uri`` (a normalized path) here."""
        if self.match == "exact":
            return uri == self.path
        if self.match == "below":
            return uri.startswith(self.path)
        return uri == self.path or uri.startswith(self.path + "/")

    def overlaps(self, other: Route) -> bool:
        # Each route's shortest path is the most general one it matches: two of these
        # shapes share a path exactly when one matches the other's shortest path.
        return self.matches(other.path) or other.matches(self.path)


@dataclass(frozen=True)
class Service:
    name: str
    schema: str
    env_prefix: str
    health: str | None
    docs: bool
    public_routes: tuple[Route, ...]
    routes: tuple[Route, ...]           # token required
    workers: tuple[str, ...]            # worker kinds: relay, consumer, ...

    @property
    def upstream_variable(self) -> str:
        """The gateway template's placeholder for this service's address."""
        return f"{self.env_prefix}UPSTREAM"

    @property
    def docs_route(self) -> Route | None:
        return Route(f"/docs/{self.name}", "path", True, self.name) if self.docs else None

    @property
    def all_routes(self) -> tuple[Route, ...]:
        """Everything the gateway routes here: public routes, docs, protected routes."""
        docs = (self.docs_route,) if self.docs_route is not None else ()
        return (*self.public_routes, *docs, *self.routes)

    @property
    def routed(self) -> bool:
        return bool(self.all_routes)

    @property
    def roles(self) -> tuple[str, ...]:
        """What ``python -m chassis.serve <name> --role`` accepts, besides ``all``."""
        return ("api", *self.workers)

    def argv(self, role: str = "all") -> list[str]:
        """The interpreter's arguments that run ``role`` of this service alone."""
        return ["-m", "chassis.serve", self.name, "--role", role]


@dataclass(frozen=True)
class Topology:
    services: tuple[Service, ...]
    api_container_port: int
    source: Path | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(service.name for service in self.services)

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"no service {name!r} in {FILE_NAME}; known: {', '.join(self.names)}")

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(route for service in self.services for route in service.all_routes)

    @property
    def gateway_upstreams(self) -> tuple[str, ...]:
        """Services the gateway has an upstream for: routed ones and those with a health
        endpoint (asked by /healthz only)."""
        return tuple(s.name for s in self.services if s.routed or s.health is not None)

    @property
    def health_services(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services if s.health is not None)

    @property
    def docs_services(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services if s.docs)


# --- reading and validating ---------------------------------------------------------------


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise TopologyError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                            f"allowed: {', '.join(sorted(allowed))}")


def _string(table: dict[str, Any], key: str, where: str, pattern: re.Pattern[str]) -> str:
    value = table.get(key)
    if not isinstance(value, str):
        raise TopologyError(f"{where}: {key} must be a string")
    if not pattern.match(value):
        raise TopologyError(f"{where}: {key} {value!r} does not match {pattern.pattern}")
    return value


def _string_list(table: dict[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TopologyError(f"{where}: {key} must be a list of strings")
    return list(value)


def _workers(table: dict[str, Any], where: str) -> tuple[str, ...]:
    roles = _string_list(table, "workers", where)
    for role in roles:
        if not _ROLE.match(role) or role in RESERVED_ROLES:
            raise TopologyError(f"{where}: worker kind {role!r} must match {_ROLE.pattern} "
                                f"and not be one of {', '.join(RESERVED_ROLES)}")
    if len(set(roles)) != len(roles):
        raise TopologyError(f"{where}: a worker kind is listed twice")
    return tuple(roles)


def _service(table: Any, index: int) -> Service:
    where = f"[[service]] number {index + 1}"
    if not isinstance(table, dict):
        raise TopologyError(f"{where} must be a table")
    name = _string(table, "name", where, _NAME)
    where = f"service {name!r}"
    _check_keys(table, _SERVICE_KEYS, where)
    schema = _string(table, "schema", where, _SCHEMA)
    env_prefix = _string(table, "env_prefix", where, _ENV_PREFIX)
    if env_prefix != name.upper() + "_":
        # chassis.migrate and the docs builder know a service by its name only.
        raise TopologyError(f"{where}: env_prefix must be {name.upper() + '_'!r}, "
                            "what chassis derives from the name")
    health = None
    if "health" in table:
        health = _string(table, "health", where, _PATH)
    docs = table.get("docs", False)
    if not isinstance(docs, bool):
        raise TopologyError(f"{where}: docs must be true or false")
    try:
        public = tuple(Route.parse(text, public=True, service=name)
                       for text in _string_list(table, "public_routes", where))
        protected = tuple(Route.parse(text, public=False, service=name)
                          for text in _string_list(table, "routes", where))
    except TopologyError as exc:
        raise TopologyError(f"{where}: {exc}") from None
    for route in protected:
        if not route.path.startswith("/api/"):
            raise TopologyError(f"{where}: route {route}: routes that need a token must be "
                                "under /api/ (where the gateway checks tokens)")
    return Service(name=name, schema=schema, env_prefix=env_prefix, health=health, docs=docs,
                   public_routes=public, routes=protected, workers=_workers(table, where))


def _check_unique(services: tuple[Service, ...]) -> None:
    for label, values in (("name", [s.name for s in services]),
                          ("schema", [s.schema for s in services]),
                          ("env_prefix", [s.env_prefix for s in services])):
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise TopologyError(f"two services have the {label} {value!r}")
            seen.add(value)


def _check_routes(services: tuple[Service, ...]) -> None:
    routes = [route for service in services for route in service.all_routes]
    reserved = [Route.parse(text, public=True, service="gateway") for text in RESERVED_ROUTES]
    for route in routes:
        for own in reserved:
            if route.overlaps(own):
                raise TopologyError(f"service {route.service!r}: route {route} reaches "
                                    f"{own}, which the gateway keeps for itself")
        if route.path.startswith("/_"):
            raise TopologyError(f"service {route.service!r}: route {route}: paths starting "
                                "with /_ are the gateway's internal locations")
    for i, route in enumerate(routes):
        for other in routes[i + 1:]:
            if route.overlaps(other):
                raise TopologyError(
                    f"routes overlap: {route} ({route.service}) and {other} ({other.service})")


def parse(data: dict[str, Any], source: Path | None = None) -> Topology:
    """A validated :class:`Topology` from the parsed TOML document."""
    _check_keys(data, _TOP_KEYS, "top level")
    port = data.get("api_container_port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise TopologyError("top level: api_container_port must be a port number")
    tables = data.get("service")
    if not isinstance(tables, list) or not tables:
        raise TopologyError("no [[service]] listed")
    services = tuple(_service(table, i) for i, table in enumerate(tables))
    _check_unique(services)
    _check_routes(services)
    return Topology(services=services, api_container_port=port, source=source)


def find() -> Path:
    """Where topology.toml is: ``KANBAN_TOPOLOGY``, else above this module, else above the
    working directory."""
    if override := os.environ.get("KANBAN_TOPOLOGY"):
        return Path(override).resolve()
    for start in (Path(__file__).resolve(), Path.cwd().resolve() / FILE_NAME):
        for parent in start.parents:
            if (parent / FILE_NAME).is_file():
                return parent / FILE_NAME
    raise TopologyError(f"{FILE_NAME} not found above {Path(__file__).parent} or "
                        f"{Path.cwd()}; set KANBAN_TOPOLOGY")


def read(path: Path) -> Topology:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise TopologyError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path}: {exc}") from exc
    try:
        return parse(data, path)
    except TopologyError as exc:
        raise TopologyError(f"{path}: {exc}") from None


@cache
def load() -> Topology:
    """The platform's topology (read once per process)."""
    return read(find())
