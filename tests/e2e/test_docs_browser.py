"""The API docs through the gateway, rendered by a real browser.

Headless Chromium (Debian package ``chromium``) loads the Swagger UI pages: the merged one at
``/api/schema/swagger/`` and a service's own at ``/docs/identity/``. Swagger UI builds its
page in JavaScript from the OpenAPI document, so operations in the rendered DOM prove that
the page, its local assets and the schema are all served and fit together. No WebDriver:
Chromium's own ``--dump-dom`` and ``--screenshot`` with a virtual-time budget. Screenshots go
to ``test-artifacts/``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from contracts.events import PAYLOADS
from devstack.stack import Stack

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DEBIAN_PACKAGE = "chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
         "--window-size=1280,2000"]
VIRTUAL_TIME_MS = 20_000


def _find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    browser = _find_browser()
    if browser is None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        browser = _find_browser()
    if browser is None:
        pytest.fail(f"headless Chromium is needed: install the Debian package "
                    f"'{DEBIAN_PACKAGE}' (apt-get install {DEBIAN_PACKAGE}; run as root "
                    "and this test installs it)")
    return browser


@pytest.fixture
def profile() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kanban-chromium-") as path:
        yield Path(path)


def render(browser: str, url: str, profile: Path, screenshot: str | None = None) -> str:
    """The DOM of ``url`` after its scripts ran (and a PNG of it under test-artifacts/)."""
    common = [browser, *FLAGS, f"--user-data-dir={profile}",
              f"--virtual-time-budget={VIRTUAL_TIME_MS}"]
    run = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, f"chromium failed on {url}: {run.stderr[-2000:]}"
    if screenshot:
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / screenshot
        subprocess.run([*common, f"--screenshot={target}", url], capture_output=True,
                       timeout=120)
        assert target.is_file() and target.stat().st_size > 0, f"no screenshot of {url}"
    return run.stdout


def operations(dom: str) -> set[str]:
    """(method path) of every operation block Swagger UI rendered."""
    found = set()
    for chunk in dom.split('class="opblock opblock-')[1:]:
        method = chunk.split(" ", 1)[0].split('"', 1)[0]
        if 'data-path="' in chunk:
            path = chunk.split('data-path="', 1)[1].split('"', 1)[0]
            found.add(f"{method} {path}")
    return found


def test_merged_swagger_ui_renders_every_service(stack: Stack, chromium: str,
                                                 profile: Path) -> None:
    url = f"{stack.gateway_url}/api/schema/swagger/"
    dom = render(chromium, url, profile, screenshot="docs-api-schema-swagger.png")
    rendered = operations(dom)
    assert "post /api/v1/auth/login" in rendered, f"no login operation on {url}"
    schema = httpx.get(f"{stack.gateway_url}/api/schema/", timeout=10).json()
    expected = {f"{method} {path}" for path, item in schema["paths"].items()
                for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert rendered == expected
    services = {op["x-service"] for item in schema["paths"].values()
                for method, op in item.items() if method in ("get", "post", "put", "patch",
                                                             "delete")}
    assert services >= {spec.name for spec in stack.specs} - {"scheduler"}


def test_service_swagger_ui_renders(stack: Stack, chromium: str, profile: Path) -> None:
    url = f"{stack.gateway_url}/docs/identity/"
    dom = render(chromium, url, profile, screenshot="docs-identity-swagger.png")
    rendered = operations(dom)
    assert {"post /api/v1/auth/login", "get /api/v1/users/me",
            "get /.well-known/jwks.json"} <= rendered
    assert not any(op.split(" ", 1)[1].startswith("/api/v1/teams") for op in rendered)


def test_merged_schema_is_served_as_json(stack: Stack) -> None:
    response = httpx.get(f"{stack.gateway_url}/api/schema/", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/auth/login" in document["paths"]
    assert not [p for p in document["paths"] if p.startswith(("/health", "/docs"))]


def test_event_catalog_is_served(stack: Stack, chromium: str, profile: Path) -> None:
    page = httpx.get(f"{stack.gateway_url}/docs/events/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for event_type, version in PAYLOADS:
        assert f'id="{event_type}.v{version}"' in page.text, event_type
    asyncapi = httpx.get(f"{stack.gateway_url}/docs/events/asyncapi.json", timeout=10)
    assert asyncapi.status_code == 200
    names = {m["name"] for m in asyncapi.json()["components"]["messages"].values()}
    assert names == {event_type for event_type, _ in PAYLOADS}
    dom = render(chromium, f"{stack.gateway_url}/docs/events/", profile,
                 screenshot="docs-events.png")
    assert dom.count('class="event"') == len(PAYLOADS)


def test_missing_docs_file_is_a_problem_json_404(stack: Stack) -> None:
    response = httpx.get(f"{stack.gateway_url}/docs/events/no-such-file.json", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert json.loads(response.text)["status"] == 404
