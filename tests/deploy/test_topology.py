"""topology.toml against everything else that says what runs: docker-compose.yml, the services'
Dockerfile, the docs builder, the services' own packages (schema, settings prefix) and the
Makefile. The native launcher and the gateway runner read topology.toml itself (see
tools/devstack/tests/test_topology.py); these files cannot (the images are built without it),
so they are checked: adding a service to topology.toml makes these tests name what is missing.

test_compose.py checks the rest of the compose file (and takes its list of services and worker
kinds from topology.toml too)."""

from __future__ import annotations

import importlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from chassis.settings import ServiceSettings
from devstack import docs
from devstack.topology import load as load_topology

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = load_topology()
INFRA = {"postgres", "redis", "mailpit", "gateway"}


@pytest.fixture(scope="module")
def containers() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(
        (ROOT / "docker-compose.yml").read_text())["services"]
    return services


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    env = container.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return env


# --- docker-compose.yml --------------------------------------------------------------------


def test_compose_runs_what_the_topology_lists_and_nothing_else(
        containers: dict[str, Any]) -> None:
    expected = set(INFRA)
    for service in TOPOLOGY.services:
        expected |= {service.name, f"{service.name}-migrate"}
        expected |= {f"{service.name}-{kind}" for kind in service.workers}
    assert set(containers) == expected


@pytest.mark.parametrize("name", TOPOLOGY.names)
def test_each_service_has_its_api_its_migrate_step_and_one_container_per_role(
        containers: dict[str, Any], name: str) -> None:
    service = TOPOLOGY.service(name)
    api = containers[name]
    assert api["build"]["args"] == {"SERVICE": name}
    assert api["command"] == ["python", *service.argv("api"), "--host", "0.0.0.0",
                              "--port", str(TOPOLOGY.api_container_port)]
    migrate = containers[f"{name}-migrate"]
    assert migrate["command"] == ["python", "-m", "chassis.migrate", name]
    assert migrate["image"] == api["image"]
    for kind in service.workers:
        container = containers[f"{name}-{kind}"]
        assert container["command"] == ["python", *service.argv(kind)], kind
        assert container["image"] == api["image"], "the worker runs the service's image"
        assert container["depends_on"][f"{name}-migrate"] == {
            "condition": "service_completed_successfully"}


def test_one_migrate_step_per_schema(containers: dict[str, Any]) -> None:
    migrated = sorted(c["command"][3] for n, c in containers.items() if n.endswith("-migrate"))
    assert migrated == sorted(TOPOLOGY.names)
    assert len({s.schema for s in TOPOLOGY.services}) == len(TOPOLOGY.services)


@pytest.mark.parametrize("name", TOPOLOGY.names)
def test_apis_listen_on_the_container_port_and_check_their_health(
        containers: dict[str, Any], name: str) -> None:
    service = TOPOLOGY.service(name)
    port = TOPOLOGY.api_container_port
    check = " ".join(containers[name]["healthcheck"]["test"])
    if service.health is not None:
        assert f"http://127.0.0.1:{port}{service.health}" in check
    assert "ports" not in containers[name], "only the gateway is published"


def test_the_gateway_has_an_address_for_each_of_its_upstreams(
        containers: dict[str, Any]) -> None:
    gateway = env_of(containers["gateway"])
    upstreams = {k: v for k, v in gateway.items() if k.endswith("_UPSTREAM")}
    port = TOPOLOGY.api_container_port
    assert upstreams == {TOPOLOGY.service(name).upstream_variable: f"{name}:{port}"
                         for name in TOPOLOGY.gateway_upstreams}
    assert set(containers["gateway"]["depends_on"]) == set(TOPOLOGY.names)


def test_service_urls_use_the_container_port(containers: dict[str, Any]) -> None:
    port = TOPOLOGY.api_container_port
    for service in TOPOLOGY.services:
        env = env_of(containers[service.name])
        for key in ("JWKS_URL", "IDENTITY_URL", "WORKSPACE_URL"):
            value = env[service.env_prefix + key]
            assert re.match(rf"^http://[a-z]+:{port}(/|$)", value), (service.name, key, value)


# --- the services' image, packages and settings ---------------------------------------------


def test_the_service_image_serves_on_the_container_port() -> None:
    text = (ROOT / "services" / "Dockerfile").read_text()
    port = str(TOPOLOGY.api_container_port)
    assert re.search(rf"^EXPOSE {port}$", text, re.M)
    (cmd,) = re.findall(r"^CMD (.*)$", text.replace("\\\n", ""), re.M)
    *_, script = json.loads(cmd)   # sh -c "exec python -m chassis.serve ..."
    assert shlex.split(script)[-2:] == ["--port", port]
    # Its build refuses a SERVICE it does not know: it must know every one of the topology.
    (known,) = re.findall(r'case "\$\{SERVICE\}" in ([a-z|]+)\)', text)
    assert known.split("|") == list(TOPOLOGY.names)


@pytest.mark.parametrize("name", TOPOLOGY.names)
def test_each_service_owns_the_schema_and_prefix_the_topology_says(name: str) -> None:
    service = TOPOLOGY.service(name)
    assert service.schema == importlib.import_module(f"{name}.db").SCHEMA
    classes = [v for v in vars(importlib.import_module(f"{name}.config")).values()
               if isinstance(v, type) and issubclass(v, ServiceSettings)
               and v is not ServiceSettings]
    assert [cls.model_config.get("env_prefix") for cls in classes] == [service.env_prefix]
    main = importlib.import_module(f"{name}.main")
    assert main.create_app
    # chassis.serve builds exactly these kinds and /health/ready reports their heartbeats.
    assert tuple(main.WORKERS) == service.workers
    for kind, build in main.WORKERS.items():
        worker = build()   # builds only: nothing connects before run()
        assert (worker.service, worker.kind) == (name, kind), "its heartbeat's key"
        if kind == "relay":
            assert worker.schema == service.schema, "the relay drains this outbox"


# --- the docs builder and the Makefile ------------------------------------------------------


def test_the_docs_builder_knows_every_service() -> None:
    assert TOPOLOGY.names == docs.SERVICES
    assert TOPOLOGY.docs_services == docs.PUBLIC_DOCS


def test_the_makefile_has_a_test_target_per_service() -> None:
    (names,) = re.findall(r"^SERVICES := (.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert names.split() == list(TOPOLOGY.names)
