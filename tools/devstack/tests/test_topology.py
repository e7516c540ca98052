"""devstack.topology: topology.toml is read into a typed model, and anything inconsistent in it
is refused with a message naming the place."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
from devstack import gateway, stack, topology
from devstack.topology import Route, TopologyError

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def data() -> dict[str, Any]:
    """The real file, parsed: each test breaks one thing in a copy."""
    return copy.deepcopy(tomllib.loads((ROOT / "topology.toml").read_text()))


def service(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["service"] if s["name"] == name)


# --- the real file -------------------------------------------------------------------------


def test_the_repository_file_loads() -> None:
    loaded = topology.load()
    assert loaded.source == ROOT / "topology.toml"
    assert loaded.names == ("identity", "workspace", "boards", "notifier", "scheduler")
    assert loaded.health_services == loaded.names
    assert loaded.docs_services == ("identity", "workspace", "boards", "notifier")
    assert loaded.gateway_upstreams == loaded.names   # the scheduler for /healthz
    scheduler = loaded.service("scheduler")
    assert scheduler.all_routes == () and scheduler.health == "/health/ready"
    assert scheduler.workers == ("relay", "consumer", "scanner")
    assert scheduler.roles == ("api", "relay", "consumer", "scanner")
    assert scheduler.argv("scanner") == ["-m", "chassis.serve", "scheduler", "--role", "scanner"]
    assert scheduler.argv() == ["-m", "chassis.serve", "scheduler", "--role", "all"]
    assert loaded.service("notifier").workers == ("consumer", "mailer")
    assert loaded.service("identity").workers == ("relay",)
    assert loaded.service("identity").upstream_variable == "IDENTITY_UPSTREAM"
    assert loaded.api_container_port == 8000


def test_the_launcher_and_the_gateway_take_their_tables_from_it() -> None:
    loaded = topology.load()
    assert list(loaded.services) == stack.SERVICES
    assert loaded.gateway_upstreams == gateway.SERVICES
    variables = {name: loaded.service(name).upstream_variable
                 for name in loaded.gateway_upstreams}
    assert variables == gateway.UPSTREAM_VARIABLES


def test_found_through_kanban_topology(tmp_path: Path, data: dict[str, Any],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text((ROOT / "topology.toml").read_text())
    monkeypatch.setenv("KANBAN_TOPOLOGY", str(path))
    assert topology.find() == path
    assert topology.read(path).names == topology.load().names
    monkeypatch.setenv("KANBAN_TOPOLOGY", str(tmp_path / "missing.toml"))
    with pytest.raises(TopologyError, match="cannot read"):
        topology.read(topology.find())


def test_syntax_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "topology.toml"
    path.write_text("[[service]\n")
    with pytest.raises(TopologyError, match=str(path)):
        topology.read(path)


# --- routes --------------------------------------------------------------------------------


@pytest.mark.parametrize("text,match,inside,outside", [
    ("/api/v1/users", "path", ["/api/v1/users", "/api/v1/users/1"],
     ["/api/v1/usersx", "/api/v1/user", "/api/v1"]),
    ("/api/v1/auth/", "below", ["/api/v1/auth/login", "/api/v1/auth/"],
     ["/api/v1/auth", "/api/v1/authx"]),
    ("= /.well-known/jwks.json", "exact", ["/.well-known/jwks.json"],
     ["/.well-known/jwks.json/x", "/.well-known/"]),
])
def test_route_shapes(text: str, match: str, inside: list[str], outside: list[str]) -> None:
    route = Route.parse(text, public=True, service="x")
    assert route.match == match and str(route) == text
    assert all(route.matches(path) for path in inside)
    assert not any(route.matches(path) for path in outside)


@pytest.mark.parametrize("a,b,overlap", [
    ("/api/v1/boards", "/api/v1/boards/x", True),
    ("/api/v1/boards", "/api/v1/boardsx", False),
    ("/api/v1/auth/", "/api/v1/auth", True),    # both match /api/v1/auth/login
    ("/api/v1/auth/", "= /api/v1/auth", False),
    ("/api/v1/auth/", "/api/v1/auth/login", True),
    ("/api/v1/", "/api/v1/users", True),
    ("= /api/v1/x", "/api/v1/x/", False),
    ("= /api/v1/x", "/api/v1", True),
])
def test_route_overlaps(a: str, b: str, overlap: bool) -> None:
    first = Route.parse(a, public=True, service="a")
    second = Route.parse(b, public=True, service="b")
    assert first.overlaps(second) is overlap and second.overlaps(first) is overlap


@pytest.mark.parametrize("text", ["api/v1/x", "/api//x", "/api/v1/x y", "/api/../x", "= /a/",
                                  "/api/v1/$x", "", "/"])
def test_malformed_routes_are_refused(text: str) -> None:
    with pytest.raises(TopologyError, match="route"):
        Route.parse(text, public=True, service="x")


# --- what the loader refuses ---------------------------------------------------------------


def refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        topology.parse(data)


def test_unknown_keys_are_refused(data: dict[str, Any]) -> None:
    broken = copy.deepcopy(data)
    broken["services"] = []
    refused(broken, "top level: unknown key.*services")
    broken = copy.deepcopy(data)
    service(broken, "boards")["route"] = ["/api/v1/x"]    # a typo of routes
    refused(broken, "service 'boards': unknown key.*route")


def test_wrong_types_are_refused(data: dict[str, Any]) -> None:
    broken = copy.deepcopy(data)
    service(broken, "boards")["docs"] = "yes"
    refused(broken, "docs must be true or false")
    broken = copy.deepcopy(data)
    service(broken, "boards")["routes"] = "/api/v1/boards"
    refused(broken, "routes must be a list of strings")
    broken = copy.deepcopy(data)
    broken["api_container_port"] = "8000"
    refused(broken, "api_container_port")
    broken = copy.deepcopy(data)
    del broken["service"]
    refused(broken, "no \\[\\[service\\]\\]")


@pytest.mark.parametrize("key", ["name", "schema", "env_prefix"])
def test_duplicates_are_refused(data: dict[str, Any], key: str) -> None:
    copied = copy.deepcopy(service(data, "scheduler"))
    copied.update({"public_routes": [], "routes": [], "docs": False})
    if key != "name":
        copied["name"] = "other"
        copied["env_prefix"] = "OTHER_"
        copied["schema"] = "other"
        copied[key] = service(data, "scheduler")[key]
    if key == "env_prefix":   # must be NAME_: a second service cannot take another's
        refused({**data, "service": [*data["service"], copied]}, "env_prefix must be 'OTHER_'")
        return
    refused({**data, "service": [*data["service"], copied]}, f"two services have the {key}")


def test_names_and_prefixes_must_agree(data: dict[str, Any]) -> None:
    service(data, "boards")["env_prefix"] = "BOARD_"
    refused(data, "env_prefix must be 'BOARDS_'")


def test_invalid_names_are_refused(data: dict[str, Any]) -> None:
    service(data, "boards")["name"] = "Boards"
    refused(data, "name 'Boards' does not match")


def test_a_route_in_two_services_is_refused(data: dict[str, Any]) -> None:
    service(data, "notifier")["routes"].append("/api/v1/tasks")
    refused(data, "routes overlap: /api/v1/tasks \\(boards\\) and /api/v1/tasks \\(notifier\\)")


def test_nested_routes_are_refused(data: dict[str, Any]) -> None:
    service(data, "notifier")["routes"].append("/api/v1/boards/archive")
    refused(data, "routes overlap")


def test_docs_routes_count_as_routes(data: dict[str, Any]) -> None:
    service(data, "scheduler")["public_routes"] = ["/docs/boards/extra"]
    refused(data, "routes overlap: /docs/boards \\(boards\\)")


def test_protected_routes_must_be_under_api(data: dict[str, Any]) -> None:
    service(data, "scheduler")["routes"] = ["/reminders"]
    refused(data, "must be under /api/")


@pytest.mark.parametrize("route", ["/healthz", "/api/schema/", "/docs/events", "/api/", "/docs/",
                                   "/_problem", "/health/ready"])
def test_the_gateways_own_paths_are_refused(data: dict[str, Any], route: str) -> None:
    service(data, "scheduler")["public_routes"] = [route]
    refused(data, "gateway")


def test_a_service_named_events_cannot_have_docs(data: dict[str, Any]) -> None:
    service(data, "scheduler").update({"name": "events", "schema": "events",
                                       "env_prefix": "EVENTS_", "docs": True})
    refused(data, "/docs/events")


@pytest.mark.parametrize("workers,message", [
    ("relay", "workers must be a list of strings"),
    ({"relay": "chassis.relay"}, "workers must be a list of strings"),   # the old table
    (["relay", 3], "workers must be a list of strings"),
    (["Scanner"], "worker kind 'Scanner' must match"),
    (["9lives"], "worker kind '9lives' must match"),
    (["scan_ner"], "worker kind 'scan_ner' must match"),
    (["scanner-"], "worker kind 'scanner-' must match"),
    ([""], "worker kind '' must match"),
    (["api"], "worker kind 'api' .*not be one of api, all, migrate"),
    (["all"], "worker kind 'all' .*not be one of"),
    (["migrate"], "worker kind 'migrate' .*not be one of"),
    (["relay", "consumer", "relay"], "a worker kind is listed twice"),
])
def test_bad_workers_are_refused(data: dict[str, Any], workers: Any, message: str) -> None:
    service(data, "scheduler")["workers"] = workers
    refused(data, message)


def test_a_service_may_have_no_health_endpoint_and_no_workers(data: dict[str, Any]) -> None:
    del service(data, "scheduler")["health"]
    del service(data, "scheduler")["workers"]
    loaded = topology.parse(data)
    assert "scheduler" not in loaded.health_services
    assert "scheduler" not in loaded.gateway_upstreams   # neither routed nor asked
    assert loaded.service("scheduler").workers == ()
    assert loaded.service("scheduler").roles == ("api",)
