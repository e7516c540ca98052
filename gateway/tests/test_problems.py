"""The answers nginx writes itself: one problem+json page for every error status, and the
headers the gateway adds (X-Request-ID always; Retry-After, WWW-Authenticate, Cache-Control
where they belong), never doubled and never added to what a service answered."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from chassis.errors import PROBLEM_TYPES, code_for_status

PROBLEM = "application/problem+json"


@pytest.fixture
def client(gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        yield c


def assert_gateway_problem(response: httpx.Response, status: int, title: str, *,
                           retry_after: bool = False, challenge: bool = False) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{code_for_status(status)}" and body["status"] == status
    assert body["title"] == title and body["detail"]
    assert len(response.headers.get_list("x-request-id")) == 1
    assert response.headers.get_list("retry-after") == (["1"] if retry_after else [])
    assert response.headers.get_list("www-authenticate") == (["Bearer"] if challenge else [])
    assert "cache-control" not in response.headers
    return body


def raw_request(url: str, request: bytes) -> tuple[int, dict[str, list[str]], bytes]:
    """Bytes httpx would refuse to send; answers (status, headers, body)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(lines[0].split()[1]), headers, body


# --- /problems/<code>: a page per problem type ---------------------------------------------


GATEWAY_DIR = Path(__file__).resolve().parents[1]


def test_the_template_describes_exactly_the_services_problem_types() -> None:
    template = (GATEWAY_DIR / "nginx.conf.template").read_text()
    block = template.split("map $problem_page $problem_page_text {", 1)[1].split("}", 1)[0]
    lines = [line.strip() for line in block.strip().splitlines()][1:]   # after "default"
    pages = {code: text.strip('";') for code, text in (line.split(None, 1) for line in lines)}
    assert pages == {code: f"{kind.status}|{kind.title}|{kind.description}"
                     for code, kind in PROBLEM_TYPES.items()}


def test_every_problem_type_has_a_page(client) -> None:
    for code, kind in PROBLEM_TYPES.items():
        response = client.get(f"/problems/{code}")
        assert response.status_code == 200, code
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=3600"
        page = response.text
        assert f"<h1>{kind.title}</h1>" in page and f"<strong>{kind.status}</strong>" in page
        assert f"/problems/{code}" in page


def test_an_unknown_problem_type_is_a_404_problem(client) -> None:
    for path in ("/problems/no-such-code", "/problems/", "/problems/UPPER", "/problems/a/b"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["type"] == "/problems/not-found"


# --- one page, every status ----------------------------------------------------------------


def test_400_for_a_malformed_request(gateway) -> None:
    status, headers, body = raw_request(
        gateway.url, b"GET /api/v1/boards HTTP/1.1\r\nHost: a\r\nHost: b\r\n"
                     b"X-Request-ID: raw-400\r\nConnection: close\r\n\r\n")
    assert status == 400
    assert headers["content-type"] == [PROBLEM]
    assert len(headers["x-request-id"]) == 1   # nginx stopped reading at the second Host
    assert "retry-after" not in headers and "www-authenticate" not in headers
    problem = json.loads(body)
    assert problem == {"type": "/problems/bad-request", "title": "Bad Request", "status": 400,
                       "detail": "The request could not be understood"}


def test_a_header_too_large_is_a_400(client) -> None:
    response = client.get("/api/v1/boards", headers={"X-Big": "a" * 9000})
    assert_gateway_problem(response, 400, "Bad Request")


def test_404_405_and_414(client, gateway) -> None:
    docs = Path(gateway.root) / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "openapi.json").write_text("{}")
    body = assert_gateway_problem(client.get("/nowhere"), 404, "Not Found")
    assert body["detail"] == "No route for this path"
    assert_gateway_problem(client.post("/api/schema/openapi.json", content=b"{}"), 405,
                           "Method Not Allowed")
    assert_gateway_problem(client.get("/api/v1/" + "a" * 9000), 414, "URI Too Long")


def test_413_401_and_502_headers(client, keys) -> None:
    token = {"Authorization": f"Bearer {keys.token()}"}
    assert_gateway_problem(client.post("/api/v1/boards", headers=token,
                                       content=b"x" * (2 * 1024 * 1024)),
                           413, "Payload Too Large")
    assert_gateway_problem(client.get("/api/v1/boards"), 401, "Unauthorized", challenge=True)
    body = assert_gateway_problem(client.get("/api/v1/teams", headers=token), 502,
                                  "Bad Gateway", retry_after=True)
    assert body["detail"] == "The workspace service is unavailable"


def test_identity_unreachable_is_a_503_without_a_challenge(make_gateway, keys,
                                                            free_tcp_port) -> None:
    gw = make_gateway({"identity": f"127.0.0.1:{free_tcp_port}"})
    response = httpx.get(f"{gw.url}/api/v1/users/me", timeout=10,
                         headers={"Authorization": f"Bearer {keys.token()}"})
    assert_gateway_problem(response, 503, "Service Unavailable", retry_after=True)


def test_429_has_retry_after(make_gateway, identity) -> None:
    gw = make_gateway({"identity": identity.address}, auth_rate="1r/m", auth_burst=1)
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        statuses = [c.post("/api/v1/auth/login", json={}) for _ in range(3)]
    assert_gateway_problem(statuses[-1], 429, "Too Many Requests", retry_after=True)


# --- headers on everything else ------------------------------------------------------------


def test_healthz_and_static_docs_set_cache_control(client, gateway) -> None:
    healthz = client.get("/healthz")
    assert healthz.headers.get_list("cache-control") == ["no-store"]
    assert len(healthz.headers.get_list("x-request-id")) == 1
    docs = Path(gateway.root) / "docs"
    (docs / "events").mkdir(parents=True, exist_ok=True)
    (docs / "openapi.json").write_text("{}")
    (docs / "events" / "asyncapi.json").write_text("{}")
    for path in ("/api/schema/", "/api/schema/openapi.json", "/docs/events/asyncapi.json"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers.get_list("cache-control") == ["no-cache"], path
        assert len(response.headers.get_list("x-request-id")) == 1, path
        assert "retry-after" not in response.headers


def test_proxied_answers_get_only_a_request_id(client, keys) -> None:
    response = client.get("/api/v1/boards", headers={"Authorization": f"Bearer {keys.token()}"})
    assert response.status_code == 200
    assert len(response.headers.get_list("x-request-id")) == 1
    for name in ("cache-control", "retry-after", "www-authenticate"):
        assert name not in response.headers, name


class RefusingService:
    """A service that answers every request with its own 503 (or 429) and Retry-After."""

    def __init__(self) -> None:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status = 429 if self.path.endswith("/busy") else 503
                data = json.dumps({"status": status, "title": "from the service"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Retry-After", "7")
                self.send_header("Cache-Control", "private")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                service.hits += 1

        self.hits = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_services_own_errors_pass_untouched(make_gateway, identity, keys) -> None:
    service = RefusingService()
    try:
        gw = make_gateway({"identity": identity.address, "boards": service.address})
        token = {"Authorization": f"Bearer {keys.token()}"}
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            for path, status in (("/api/v1/boards", 503), ("/api/v1/boards/busy", 429)):
                response = c.get(path, headers=token)
                assert response.status_code == status
                assert response.json()["title"] == "from the service"
                assert response.headers.get_list("retry-after") == ["7"]
                assert response.headers.get_list("cache-control") == ["private"]
                assert len(response.headers.get_list("x-request-id")) == 1
        assert service.hits == 2
    finally:
        service.stop()
