"""Static checks of the container deployment: docker-compose.yml, every Dockerfile,
.env.example and the gateway's entrypoint.

No Docker engine runs here. What can be checked without one is checked: the compose file is
parsed and cross-checked against the code (topology.toml, the table of processes the native
launcher runs too; each service's settings class, the gateway template's placeholders; more
checks against topology.toml in test_topology.py); Dockerfiles are parsed; the
entrypoint renders the real template and nginx checks the result; and Debian's
``docker-compose`` (v1.29) validates the file offline when it is installed (``make prereqs``
installs it)."""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from chassis import serve
from chassis.settings import ServiceSettings
from devstack.infra import DEBIAN_PACKAGES, NGINX_MODULES, nginx_modules_dir
from devstack.topology import load as load_topology

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
GATEWAY_DOCKERFILE = ROOT / "gateway" / "Dockerfile"
SERVICE_DOCKERFILE = ROOT / "services" / "Dockerfile"
ENTRYPOINT = ROOT / "gateway" / "docker-entrypoint.sh"
TEMPLATE = ROOT / "gateway" / "nginx.conf.template"
TOPOLOGY = load_topology()   # topology.toml: what runs (the native launcher runs the same)
SERVICE_NAMES = list(TOPOLOGY.names)
INFRA = {"postgres", "redis", "mailpit", "gateway"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Settings whose development default would be wrong in a container: compose must set them.
MUST_SET = {"environment", "database_url", "redis_url", "jwks_url", "identity_url",
            "workspace_url", "cursor_secret"}
# The API's address in its container is its command's --host/--port, which win over these.
GIVEN_BY_COMMAND = {"http_host", "http_port"}
API_PORT = TOPOLOGY.api_container_port
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


# --- helpers -------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, applied to every string."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        value = env.get(name)
        if op in (":-", "-"):
            return value if value not in (None, "") or (op == "-" and value is not None) \
                else arg
        if op in (":?", "?") and not value:
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return _INTERPOLATION.sub(replace, node)


def compose_variables(text: str) -> set[str]:
    return {m.group(1) for m in _INTERPOLATION.finditer(text) if m.group(1)}


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)   # "image AS name"

    @classmethod
    def parse(cls, path: Path, build_args: dict[str, str] | None = None) -> Dockerfile:
        """``build_args``: ``${NAME}`` of these names is replaced, as ``docker build
        --build-arg`` would (other variables, e.g. the base image's, stay as written)."""
        result = cls(path)
        logical, stage = "", -1
        text = path.read_text()
        for name, value in (build_args or {}).items():
            assert f"ARG {name}" in text, f"{path} declares no ARG {name}"
            text = text.replace(f"${{{name}}}", value)
        for raw in text.splitlines():
            stripped = raw.strip()
            if not logical and (not stripped or stripped.startswith("#")):
                continue
            if logical and stripped.startswith("#"):
                continue   # comment inside a continued instruction
            if stripped.endswith("\\"):
                logical += stripped[:-1] + " "
                continue
            logical += stripped
            keyword, _, args = logical.partition(" ")
            keyword = keyword.upper()
            if keyword == "FROM":
                stage += 1
                result.stages.append(args.strip())
            result.instructions.append(Instruction(keyword, args.strip(), stage))
            logical = ""
        return result

    def final(self, keyword: str) -> list[str]:
        last = len(self.stages) - 1
        return [i.args for i in self.instructions if i.keyword == keyword and i.stage == last]

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]

    def copy_sources(self) -> list[str]:
        """Build-context sources of COPY/ADD (not those copied from another stage)."""
        sources = []
        for args in self.all("COPY") + self.all("ADD"):
            words = shlex.split(args)
            if any(w.startswith("--from=") for w in words):
                continue
            words = [w for w in words if not w.startswith("--")]
            sources.extend(words[:-1])
        return sources

    def env(self) -> dict[str, str]:
        values = {}
        for args in self.final("ENV"):
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                values[key] = value
        return values


def settings_class(service: str) -> type[ServiceSettings]:
    """The service's settings class, or the shared one while the service has none yet."""
    try:
        module = importlib.import_module(f"{service}.config")
    except ModuleNotFoundError:
        return ServiceSettings
    classes = [v for v in vars(module).values() if isinstance(v, type)
               and issubclass(v, ServiceSettings) and v is not ServiceSettings]
    assert len(classes) == 1, f"{service}.config should define one settings class"
    return classes[0]


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored_by_docker(relative: str) -> bool:
    ignored = False
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = relative.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(p, pattern) or (pattern.startswith("**/") and (
                fnmatch.fnmatch(p, pattern[3:]) or fnmatch.fnmatch(p.split("/")[-1],
                                                                    pattern[3:])))
               for p in prefixes):
            ignored = not negate
    return ignored


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any], example_env: dict[str, str]) -> dict[str, Any]:
    """The compose file as docker compose sees it with .env.example as its .env."""
    return interpolate(raw_compose, example_env)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def api_command(service: str) -> list[str]:
    """The API alone, listening on the container port on every interface."""
    return ["python", *TOPOLOGY.service(service).argv("api"), "--host", "0.0.0.0",
            "--port", str(API_PORT)]


def workers_of(service: str) -> dict[str, list[str]]:
    """Container name -> command: one container per worker kind of the topology."""
    described = TOPOLOGY.service(service)
    return {f"{service}-{kind}": ["python", *described.argv(kind)]
            for kind in described.workers}


def containers_of(service: str) -> list[str]:
    return [service, f"{service}-migrate", *workers_of(service)]


def environment(container: dict[str, Any]) -> dict[str, Any]:
    env = container.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


# --- the architecture is all there ---------------------------------------------------------


def test_every_part_of_the_architecture_has_a_container(services: dict[str, Any]) -> None:
    expected = set(INFRA)
    for name in SERVICE_NAMES:
        expected |= set(containers_of(name))
    assert set(services) == expected
    workers = sum(len(s.workers) for s in TOPOLOGY.services)
    assert len(expected) == len(INFRA) + 2 * len(SERVICE_NAMES) + workers   # API + migrate


def test_infrastructure_images(services: dict[str, Any]) -> None:
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"].split(":")[0] == "redis"
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert "--appendonly" in services["redis"]["command"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert any(str(p).endswith(":8025") for p in services["mailpit"]["ports"]), "mail web UI"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"], "from the environment"
    assert "${POSTGRES_PASSWORD" in COMPOSE_FILE.read_text()


def test_each_role_runs_alone_in_its_container(services: dict[str, Any]) -> None:
    for name in SERVICE_NAMES:
        image = services[name]["image"]
        for container, command in workers_of(name).items():
            assert services[container]["command"] == command, container
            assert services[container]["image"] == image, "one image per service"
        assert services[f"{name}-migrate"]["command"] == [
            "python", "-m", "chassis.migrate", name]
        assert services[name]["command"] == api_command(name)
        assert services[name]["build"] == {"context": ".", "dockerfile": "services/Dockerfile",
                                           "args": {"SERVICE": name}}


@pytest.mark.parametrize("container", [c for name in SERVICE_NAMES
                                       for c in [name, *workers_of(name)]])
def test_chassis_serve_runs_exactly_the_role_a_container_names(
        services: dict[str, Any], container: str) -> None:
    """Each command, given to chassis.serve's own role table: one role, the one the
    container is named after (built, not run: nothing connects)."""
    python, module, program, service, role_flag, role, *rest = services[container]["command"]
    assert (python, module, program, role_flag) == ("python", "-m", "chassis.serve", "--role")
    options = dict(zip(rest[::2], rest[1::2], strict=True))
    assert set(options) <= {"--host", "--port"}
    port = int(options["--port"]) if "--port" in options else None
    roles = serve.roles_of(service, role, host=options.get("--host"), port=port)
    assert set(roles) == {container}
    if role == serve.API:
        api = roles[container]
        assert isinstance(api, serve.ApiServer)
        config = api.server.config
        assert (config.host, config.port) == ("0.0.0.0", API_PORT), "reachable by the gateway"
        assert config.factory and config.app == f"{service}.main:create_app"


def test_workers_and_apis_can_scale(services: dict[str, Any]) -> None:
    for name in SERVICE_NAMES:
        for container in [name, *workers_of(name)]:
            assert "container_name" not in services[container], container
            assert "ports" not in services[container], f"{container}: only the gateway is public"


# --- health and start order ----------------------------------------------------------------


def test_every_long_running_container_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, container in services.items():
        check = container.get("healthcheck")
        if name.endswith("-migrate"):
            assert container["restart"] == "no", name
            assert check == {"disable": True}, f"{name}: one-shot, no healthcheck"
            continue
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert container.get("restart") == "unless-stopped", name


def test_api_healthchecks_use_readiness(services: dict[str, Any]) -> None:
    for name in SERVICE_NAMES:
        test = " ".join(services[name]["healthcheck"]["test"])
        assert "http://127.0.0.1:8000/health/ready" in test, name
        for worker in workers_of(name):
            assert "8000" not in " ".join(services[worker]["healthcheck"]["test"]), worker


def test_depends_on_targets_exist_with_valid_conditions(services: dict[str, Any]) -> None:
    for name, container in services.items():
        depends = container.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: use the long form with conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            assert spec["condition"] in CONDITIONS, f"{name} -> {target}: {spec}"
            if spec["condition"] == "service_healthy":
                assert not services[target].get("healthcheck", {}).get("disable"), target
            if spec["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not one-shot"


def test_start_order_has_no_cycle(services: dict[str, Any]) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in services[name].get("depends_on", {}):
            visit(target, (*path, name))
        done.add(name)

    for name in services:
        visit(name, ())


def test_migrations_run_before_the_api_and_workers(services: dict[str, Any]) -> None:
    for name in SERVICE_NAMES:
        migrate = services[f"{name}-migrate"]["depends_on"]
        assert migrate == {"postgres": {"condition": "service_healthy"}}
        for container in [name, *workers_of(name)]:
            depends = services[container]["depends_on"]
            assert depends[f"{name}-migrate"] == {
                "condition": "service_completed_successfully"}, container
            assert depends["redis"] == {"condition": "service_healthy"}, container
    assert services["notifier-mailer"]["depends_on"]["mailpit"]["condition"] == "service_healthy"


def test_gateway_publishes_port_80_and_waits_for_every_api(services: dict[str, Any]) -> None:
    gateway = services["gateway"]
    published = [str(p) for p in gateway["ports"]]
    assert published == ["80:8080"]
    listen = Dockerfile.parse(GATEWAY_DOCKERFILE).env()["GATEWAY_LISTEN"]
    assert listen.endswith(":8080"), "the published container port is the one nginx listens on"
    assert gateway["depends_on"] == {name: {"condition": "service_healthy"}
                                     for name in SERVICE_NAMES}
    assert gateway["build"] == {"context": ".", "dockerfile": "gateway/Dockerfile"}


def test_the_gateways_host_port_is_a_setting(raw_compose: dict[str, Any]) -> None:
    assert raw_compose["services"]["gateway"]["ports"] == ["${GATEWAY_PORT:-80}:8080"]


def test_no_image_floats_on_latest(raw_compose: dict[str, Any]) -> None:
    """A pulled image names its release: `latest` (or no tag) changes under the user."""
    for name, service in raw_compose["services"].items():
        image = service.get("image")
        if image is None or "build" in service:
            continue   # built here from this checkout
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"


def test_gateway_upstreams_point_at_the_api_containers(services: dict[str, Any]) -> None:
    env = environment(services["gateway"])
    placeholders = set(PLACEHOLDER.findall(TEMPLATE.read_text()))
    upstreams = {p for p in placeholders if p.endswith("_UPSTREAM")}
    assert upstreams, "the gateway template names its upstreams"
    for key in upstreams:
        host, _, port = env[key].partition(":")
        assert host in services and port == "8000", key
    # Every placeholder of the template has a value in the image or from compose.
    image_env = Dockerfile.parse(GATEWAY_DOCKERFILE).env()
    missing = placeholders - set(image_env) - {k for k, v in env.items() if v is not None}
    assert missing == set(), f"no value for template placeholders {missing}"


# --- settings: env only, complete, pointing at the right containers ------------------------


def test_every_setting_of_every_service_reaches_its_containers(
        services: dict[str, Any]) -> None:
    for name in SERVICE_NAMES:
        cls = settings_class(name)
        prefix = f"{name.upper()}_"
        expected = {prefix + field.upper() for field in cls.model_fields
                    if field not in GIVEN_BY_COMMAND}
        for container in containers_of(name):
            env = environment(services[container])
            own = {k for k in env if k.startswith(prefix)}
            missing = expected - own
            assert not missing, f"{container}: settings not passed: {sorted(missing)}"
            unknown = own - expected
            if cls is not ServiceSettings:
                assert not unknown, f"{container}: no such setting {sorted(unknown)}"
            for field_name in MUST_SET:
                value = env[prefix + field_name.upper()]
                assert value not in (None, ""), f"{container}: {prefix}{field_name.upper()}"
            foreign = [k for k in env if k.endswith("_DATABASE_URL") and k != prefix +
                       "DATABASE_URL"]
            assert not foreign, f"{container} gets another service's settings: {foreign}"


def test_urls_point_at_compose_services(services: dict[str, Any],
                                        example_env: dict[str, str]) -> None:
    for name in SERVICE_NAMES:
        env = environment(services[name])
        p = f"{name.upper()}_"
        db = urlsplit(env[p + "DATABASE_URL"])
        assert db.scheme == "postgresql+psycopg" and db.hostname == "postgres"
        assert db.password == example_env["POSTGRES_PASSWORD"]
        assert db.path == f"/{example_env['POSTGRES_DB']}"
        assert urlsplit(env[p + "REDIS_URL"]).hostname == "redis"
        jwks = urlsplit(env[p + "JWKS_URL"])
        assert (jwks.hostname, jwks.port, jwks.path) == (
            "identity", 8000, "/.well-known/jwks.json")
        assert urlsplit(env[p + "IDENTITY_URL"]).hostname == "identity"
        assert urlsplit(env[p + "WORKSPACE_URL"]).hostname == "workspace"
        assert env[p + "CURSOR_SECRET"] == example_env["KANBAN_CURSOR_SECRET"]
    notifier = environment(services["notifier-mailer"])
    assert notifier["NOTIFIER_SMTP_HOST"] == "mailpit"
    assert notifier["NOTIFIER_SMTP_PORT"] == "1025"


def test_settings_load_from_the_compose_environment(services: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Each service's settings class accepts exactly what its containers get."""
    for name in SERVICE_NAMES:
        cls = settings_class(name)
        for key in list(os.environ):
            if key.startswith(f"{name.upper()}_"):
                monkeypatch.delenv(key)
        env = {k: v for k, v in environment(services[name]).items() if v is not None}
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        settings = cls() if cls is not ServiceSettings else ServiceSettings.for_service(name)
        assert settings.database_url == env[f"{name.upper()}_DATABASE_URL"]
        assert settings.environment == "development"


def test_env_example_documents_every_variable(raw_compose: dict[str, Any],
                                              example_env: dict[str, str]) -> None:
    text = ENV_EXAMPLE.read_text()
    documented = set(re.findall(r"(?m)(?:^|#\s*|\s)([A-Z][A-Z0-9_]+)=", text))
    used = compose_variables(COMPOSE_FILE.read_text())
    assert used - documented == set(), "compose variables missing from .env.example"
    passthrough = set()
    for container in raw_compose["services"].values():
        passthrough |= {k for k, v in environment(container).items() if v is None}
    assert passthrough, "tuning settings are passed through"
    assert passthrough - documented == set(), "passed-through settings not documented"
    for required in ("POSTGRES_PASSWORD", "KANBAN_CURSOR_SECRET"):
        assert example_env[required], required


def test_compose_refuses_to_start_without_secrets(raw_compose: dict[str, Any],
                                                  example_env: dict[str, str]) -> None:
    for secret in ("POSTGRES_PASSWORD", "KANBAN_CURSOR_SECRET"):
        env = {k: v for k, v in example_env.items() if k != secret}
        with pytest.raises(KeyError, match=secret):
            interpolate(raw_compose, env)


# --- Dockerfiles ---------------------------------------------------------------------------


def all_images() -> dict[str, Dockerfile]:
    """Every image docker-compose.yml builds, as its Dockerfile reads with its build args."""
    images = {name: Dockerfile.parse(SERVICE_DOCKERFILE, {"SERVICE": name})
              for name in SERVICE_NAMES}
    images["gateway"] = Dockerfile.parse(GATEWAY_DOCKERFILE)
    return images


@pytest.mark.parametrize("image", all_images())
def test_dockerfile_copy_sources_exist_in_the_build_context(image: str) -> None:
    dockerfile = all_images()[image]
    path = dockerfile.path
    sources = dockerfile.copy_sources()
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"{path}: COPY {source} does not exist"
        assert not ignored_by_docker(source), f"{path}: {source} is in .dockerignore"


@pytest.mark.parametrize("image", all_images())
def test_images_run_unprivileged_with_a_healthcheck(image: str) -> None:
    dockerfile = all_images()[image]
    path = dockerfile.path
    users = dockerfile.final("USER")
    assert users, f"{path}: no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), path
    healthchecks = dockerfile.final("HEALTHCHECK")
    assert healthchecks and "CMD" in healthchecks[-1], path
    assert len(dockerfile.stages) >= 2, f"{path}: multi-stage build"


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_service_image_installs_only_its_own_code(service: str) -> None:
    path = SERVICE_DOCKERFILE
    dockerfile = Dockerfile.parse(path, {"SERVICE": service})
    sources = dockerfile.copy_sources()
    for source in sources:
        assert source in ("pyproject.toml", "uv.lock") or source.startswith(
            ("libs/contracts/", "libs/chassis/", f"services/{service}/")), \
            f"{path}: copies {source}"
    # The service's code and the two libraries it depends on (data contracts, service kit).
    for package in ("libs/contracts", "libs/chassis", f"services/{service}"):
        assert f"{package}/pyproject.toml" in sources and f"{package}/src" in sources, package
    runs = " ".join(dockerfile.all("RUN"))
    assert f"uv sync --package {service} --frozen --no-dev --no-editable" in runs
    final_image = dockerfile.stages[-1].split()[0]
    assert final_image in ("python:3.11-slim", "${PYTHON_IMAGE}"), final_image
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in path.read_text()
    assert any("--from=builder /venv /venv" in c for c in dockerfile.final("COPY"))
    assert dockerfile.final("EXPOSE") == ["8000"]
    # The default command is the API, the same as compose's API container runs.
    assert image_command(dockerfile) == api_command(service)
    assert "/health/" in dockerfile.final("HEALTHCHECK")[-1]
    # The folder the service may write exists and belongs to the user it runs as.
    assert f"chown app:app /var/lib/{service}" in " ".join(dockerfile.final("RUN"))


def image_command(dockerfile: Dockerfile) -> list[str]:
    """What the image's CMD runs: its shell line, run by sh with the image's environment
    and ``exec`` swapped for printing the arguments it would hand over."""
    sh, flag, script = json.loads(dockerfile.final("CMD")[-1])
    assert (sh, flag) == ("/bin/sh", "-c") and script.startswith("exec python ")
    printing = script.replace("exec ", "exec printf '%s\\n' ", 1)
    env = {**dockerfile.env(), "PATH": os.defpath}
    run = subprocess.run(["sh", "-c", printing], env=env, capture_output=True, text=True,
                         timeout=10, check=True)
    return run.stdout.splitlines()


@pytest.mark.parametrize("value", [*SERVICE_NAMES, "", "gateway", "boards; rm -rf /"])
def test_service_image_refuses_a_build_without_a_known_service(value: str) -> None:
    """The builder's first RUN checks SERVICE (a build arg is an environment variable of RUN's
    shell); its check, run here with sh, passes exactly for the five services."""
    first_run = Dockerfile.parse(SERVICE_DOCKERFILE).all("RUN")[0]
    check = first_run.split(" && pip install", 1)[0]
    run = subprocess.run(["sh", "-c", check], env={"SERVICE": value, "PATH": os.defpath},
                         capture_output=True, text=True, timeout=10)
    assert run.returncode == (0 if value in SERVICE_NAMES else 64), run.stderr


def test_gateway_image_builds_the_docs_and_uses_debians_nginx_modules() -> None:
    dockerfile = Dockerfile.parse(GATEWAY_DOCKERFILE)
    assert dockerfile.stages[-1].startswith("${DEBIAN_IMAGE}")
    assert "ARG DEBIAN_IMAGE=debian:bookworm-slim" in GATEWAY_DOCKERFILE.read_text()
    assert "python -m devstack.docs build --out /docs" in " ".join(dockerfile.all("RUN"))
    assert any(c.startswith("--from=docs /docs ") for c in dockerfile.final("COPY"))
    # The same Debian packages as the native launcher installs, so both run one nginx.
    installs = " ".join(dockerfile.final("RUN"))
    for package in DEBIAN_PACKAGES["nginx"].split():
        assert package in installs, package
    # Every file the template loads is copied next to it.
    copied = " ".join(dockerfile.final("COPY"))
    for name in ("nginx.conf.template", "auth.js", "token_cache.lua", "add_slash.lua"):
        assert f"gateway/{name}" in copied, name
    env = dockerfile.env()
    assert env["NGINX_MODULES_DIR"] == "/usr/lib/nginx/modules"
    assert env["DOCS_DIR"] in " ".join(dockerfile.final("COPY"))
    assert os.access(ENTRYPOINT, os.X_OK)


# --- the gateway's entrypoint, against the real template -----------------------------------


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                     else None)


def entrypoint_env(tmp_path: Path) -> dict[str, str]:
    """The image's defaults and compose's upstreams (as the image runs), with paths of this
    machine and upstreams that resolve here."""
    env = Dockerfile.parse(GATEWAY_DOCKERFILE).env()
    env.update({s.upstream_variable: "" for s in TOPOLOGY.services
                if s.name in TOPOLOGY.gateway_upstreams})
    env.update({
        "PATH": os.environ["PATH"] + ":/usr/sbin",
        "GATEWAY_TEMPLATE": str(TEMPLATE),
        "STATE_DIR": str(tmp_path / "state"),
        "AUTH_CACHE_DIR": str(tmp_path / "cache"),
        "GATEWAY_DIR": str(TEMPLATE.parent),
        "DOCS_DIR": str(tmp_path / "docs"),
        "VALIDATOR_LISTEN": f"unix:{tmp_path}/state/validator.sock",
        "ACCESS_LOG": str(tmp_path / "access.log"),
        "NGINX_MODULES_DIR": nginx_modules_dir() or "",
    })
    for key in list(env):
        if key.endswith("_UPSTREAM"):
            env[key] = "127.0.0.1:1"
    return env


def test_entrypoint_renders_the_template_and_nginx_accepts_it(tmp_path: Path) -> None:
    nginx = nginx_binary()
    if nginx is None or nginx_modules_dir() is None:
        pytest.skip("nginx with its njs and Lua modules is missing (make prereqs installs them)")
    env = entrypoint_env(tmp_path)
    run = subprocess.run(["sh", str(ENTRYPOINT), "nginx", "-t"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "test is successful" in run.stderr
    rendered = (tmp_path / "state" / "nginx.conf").read_text()
    assert PLACEHOLDER.findall(rendered) == []
    assert "$http_x_request_id" in rendered, "nginx's own variables are left alone"
    for module in NGINX_MODULES:
        assert f'load_module "{env["NGINX_MODULES_DIR"]}/{module}"' in rendered


def test_entrypoint_refuses_a_placeholder_without_value(tmp_path: Path) -> None:
    env = entrypoint_env(tmp_path)
    del env["AUTH_RATE"], env["IDENTITY_UPSTREAM"]
    run = subprocess.run(["sh", str(ENTRYPOINT), "true"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 64
    assert "AUTH_RATE" in run.stderr and "IDENTITY_UPSTREAM" in run.stderr


# --- docker-compose's own validation (offline) ---------------------------------------------


def docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose; "
                    "make prereqs installs it)")
    return binary


def run_compose(binary: str, compose_file: Path, env_file: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POSTGRES_", "KANBAN_", "COMPOSE_"))}
    return subprocess.run([binary, "-f", str(compose_file), "--env-file", str(env_file),
                           "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_docker_compose_validates_the_file() -> None:
    binary = docker_compose()
    run = run_compose(binary, COMPOSE_FILE, ENV_EXAMPLE)
    assert run.returncode == 0, run.stderr


def test_docker_compose_refuses_missing_secret_and_bad_files(tmp_path: Path) -> None:
    binary = docker_compose()
    empty = tmp_path / "empty.env"
    empty.write_text("")
    run = run_compose(binary, COMPOSE_FILE, empty)
    assert run.returncode != 0 and "POSTGRES_PASSWORD" in run.stderr
    # The validator is not a rubber stamp: a wrong condition and a missing build path fail.
    text = COMPOSE_FILE.read_text()
    bad_condition = tmp_path / "bad-condition.yml"
    bad_condition.write_text(text.replace("service_completed_successfully",
                                          "service_finished", 1))
    run = run_compose(binary, bad_condition, ENV_EXAMPLE)
    assert run.returncode != 0 and "service_finished" in run.stderr
    bad_build = tmp_path / "bad-build.yml"   # contexts resolve relative to this file
    bad_build.write_text(text.replace("context: .,", "context: ./no-such-folder,", 1))
    run = run_compose(binary, bad_build, ENV_EXAMPLE)
    assert run.returncode != 0 and "no-such-folder" in run.stderr
