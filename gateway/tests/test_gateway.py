"""The gateway in isolation: real nginx + njs in front of stub services (see conftest.py).

Covers routing, the token check (every way a token can be wrong must end in a 401 that
never reaches the service), the auth cache (hit, never outliving exp, no raw tokens on
disk), request ids, problem+json errors, rate limits and /healthz."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from chassis.errors import code_for_status
from devstack.gateway import render_template
from devstack.topology import load as load_topology

PROBLEM = "application/problem+json"


@pytest.fixture
def client(gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{code_for_status(status)}"
    assert body["status"] == status
    assert body["title"] and isinstance(body["detail"], str)
    assert response.headers.get("x-request-id")
    return body


def access_log_lines(gateway, request_id: str, timeout: float = 4.0) -> list[dict]:
    """The JSON access-log lines of one request (the log is flushed every second)."""
    deadline = time.monotonic() + timeout
    while True:
        text = gateway.access_log.read_text() if gateway.access_log.exists() else ""
        lines = [json.loads(line) for line in text.splitlines()
                 if f'"request_id":"{request_id}"' in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


# -- a valid token ---------------------------------------------------------------------------

def test_valid_token_reaches_service_with_user_id(client, keys, boards):
    sub = str(uuid.uuid4())
    token = keys.token(sub=sub)
    response = client.get("/api/v1/boards/42?expand=lists&x=%20y",
                          headers={**bearer(token), "X-Forwarded-For": "6.6.6.6"})
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["service"] == "boards"
    assert seen["path"] == "/api/v1/boards/42?expand=lists&x=%20y"   # original URI, unchanged
    assert seen["headers"]["x-user-id"] == sub
    assert seen["headers"]["authorization"] == f"Bearer {token}"     # services re-verify
    assert seen["headers"]["x-request-id"]
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"          # the client's is not trusted
    # The Host the client used, port included: URLs the service builds point at the gateway.
    assert seen["headers"]["host"] == client.base_url.netloc.decode()
    assert seen["headers"]["x-forwarded-host"] == client.base_url.netloc.decode()


def test_post_body_passes_with_token(client, keys):
    response = client.post("/api/v1/tasks", headers=bearer(keys.token()),
                           content=b"x" * 100_000)
    assert response.status_code == 200, response.text
    assert response.json()["method"] == "POST"
    assert response.json()["body_length"] == 100_000


def test_audience_may_be_a_list(client, keys):
    token = keys.token(aud=["other", "kanban"])
    assert client.get("/api/v1/lists", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("path,service", [
    ("/api/v1/boards", "boards"), ("/api/v1/lists/1", "boards"), ("/api/v1/tasks/1", "boards"),
    ("/api/v1/comments", "boards"), ("/api/v1/activity", "boards"),
    ("/api/v1/users/me", "identity"),
])
def test_protected_routes_reach_their_service(client, keys, path, service):
    response = client.get(path, headers=bearer(keys.token()))
    assert response.status_code == 200, response.text
    assert response.json()["service"] == service


# -- every kind of bad token: 401 problem+json, the service never sees it ---------------------

@pytest.mark.parametrize("case", [
    "missing", "not-bearer", "garbage", "truncated", "other-key", "alg-none", "hs256-public-key",
    "expired", "nbf-future", "iat-future", "wrong-iss", "wrong-aud", "unknown-kid",
    "refresh-token", "no-sub", "no-exp", "two-parts",
])
def test_bad_tokens_are_rejected_before_the_service(client, keys, other_key, boards, case):
    now = int(time.time())
    good = keys.token()
    headers = {
        "missing": {},
        "not-bearer": {"Authorization": f"Basic {good}"},
        "garbage": bearer("not-a-token"),
        "truncated": bearer(good[:-12]),
        "other-key": bearer(keys.token(key=other_key, kid=keys.current.kid)),
        "alg-none": bearer(keys.forge({"alg": "none", "kid": keys.current.kid},
                                      keys.claims(), b"")),
        "hs256-public-key": bearer(keys.hs256_with_public_key()),
        "expired": bearer(keys.token(iat=now - 1000, exp=now - 10)),
        "nbf-future": bearer(keys.token(nbf=now + 300)),
        "iat-future": bearer(keys.token(iat=now + 600)),
        "wrong-iss": bearer(keys.token(iss="someone-else")),
        "wrong-aud": bearer(keys.token(aud="another-api")),
        "unknown-kid": bearer(keys.token(kid="no-such-key")),
        "refresh-token": bearer(keys.token(typ="refresh")),
        "no-sub": bearer(keys.token(sub=None)),
        "no-exp": bearer(keys.token(exp=None)),
        "two-parts": bearer(".".join(good.split(".")[:2])),
    }[case]
    before = len(boards.hits)
    response = client.post("/api/v1/boards", headers={**headers, "X-User-Id": "attacker"},
                           json={"name": "x"})
    body = assert_problem(response, 401)
    assert body["title"] == "Unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert len(boards.hits) == before, "a request without a valid token reached the service"


def test_rejection_details_say_why(client, keys):
    now = int(time.time())
    expired = client.get("/api/v1/boards", headers=bearer(keys.token(exp=now - 5)))
    assert expired.json()["detail"] == "Access token expired"
    missing = client.get("/api/v1/boards")
    assert missing.json()["detail"] == "Missing access token"
    refresh = client.get("/api/v1/boards", headers=bearer(keys.token(typ="refresh")))
    assert refresh.json()["detail"] == "Not an access token"


# -- X-User-Id cannot be injected ------------------------------------------------------------

def test_client_x_user_id_is_overwritten(client, keys):
    sub = str(uuid.uuid4())
    response = client.get("/api/v1/boards", headers={**bearer(keys.token(sub=sub)),
                                                     "X-User-Id": "admin"})
    assert response.json()["headers"]["x-user-id"] == sub


def test_client_x_user_id_is_dropped_on_public_routes(client):
    response = client.post("/api/v1/auth/login", json={}, headers={"X-User-Id": "admin"})
    assert response.status_code == 200
    assert "x-user-id" not in response.json()["headers"]


# -- the auth cache ----------------------------------------------------------------------------

def test_cached_token_keeps_working(client, gateway, keys, identity):
    token = keys.token()
    ids = [f"cache-{uuid.uuid4().hex}" for _ in range(5)]
    for request_id in ids:
        response = client.get("/api/v1/boards", headers={**bearer(token),
                                                         "X-Request-ID": request_id})
        assert response.status_code == 200
    statuses = [access_log_lines(gateway, rid)[0]["auth_cache"] for rid in ids]
    assert statuses[0] == "MISS"
    assert statuses[1:] == ["HIT"] * 4


def test_cache_never_outlives_token_exp(client, keys):
    token = keys.token(exp=int(time.time()) + 2)
    assert client.get("/api/v1/boards", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/boards", headers=bearer(token)).status_code == 200
    time.sleep(3)
    response = client.get("/api/v1/boards", headers=bearer(token))
    assert assert_problem(response, 401)["detail"] == "Access token expired"


def test_cached_token_is_refused_from_its_exp_on(client, keys):
    """Requests every 20 ms across exp: accepted only before it, refused from it on."""
    exp = int(time.time()) + 2
    token = keys.token(exp=exp)
    outcomes = []
    while time.time() < exp + 1.5:
        sent = time.time()
        status = client.get("/api/v1/boards", headers=bearer(token)).status_code
        outcomes.append((sent, time.time(), status))
        time.sleep(0.02)
    assert all(status == 200 for sent, done, status in outcomes if done < exp)
    assert all(status == 401 for sent, done, status in outcomes if sent >= exp)
    assert {status for *_, status in outcomes} == {200, 401}


@pytest.mark.parametrize("accepted", [True, False], ids=["accepted", "refused"])
def test_workers_share_decisions(make_gateway, identity, boards, keys, other_key, accepted):
    """A token validated by one worker is a hit in every other: one validation per gateway,
    for acceptances and refusals alike. (Fresh connections are spread over the workers; the
    log names the worker of each.)"""
    gw = make_gateway({"identity": identity.address, "boards": boards.address}, workers="2")
    token = keys.token() if accepted else keys.token(key=other_key, kid=keys.current.kid)
    ids: list[str] = []
    lines: list[dict] = []
    while len({line["worker_pid"] for line in lines}) < 2 and len(ids) < 200:
        for _ in range(20):
            ids.append(f"shared-{uuid.uuid4().hex}")
            with httpx.Client(base_url=gw.url, timeout=10) as fresh_connection:
                response = fresh_connection.get("/api/v1/boards", headers={
                    **bearer(token), "X-Request-ID": ids[-1]})
            if accepted:
                assert response.status_code == 200, response.text
            else:
                assert assert_problem(response, 401)["detail"] == "Invalid access token"
        lines = [access_log_lines(gw, rid)[0] for rid in ids]
    assert len({line["worker_pid"] for line in lines}) == 2, "one worker took every connection"
    assert [line["auth_cache"] for line in lines].count("MISS") == 1


def test_tokens_never_reach_a_file(client, gateway, keys):
    """Decisions live in shared memory (lua_shared_dict), keyed by the header: no file the
    gateway writes (cache, logs, temp) holds a token or its signature."""
    token = keys.token()
    for _ in range(3):
        assert client.get("/api/v1/boards", headers=bearer(token)).status_code == 200
    time.sleep(1.2)   # the access log is flushed every second
    folders = [Path(gateway.root), Path(gateway.cache_dir)]
    files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
    assert any(p.name == "access.log" for p in files)
    signature = token.split(".")[2].encode()
    assert not any(signature in p.read_bytes() for p in files)


def test_refusals_are_cached_briefly(client, gateway, keys, other_key):
    forged = keys.token(key=other_key, kid=keys.current.kid)
    ids = [f"refused-{uuid.uuid4().hex}" for _ in range(2)]
    for request_id in ids:
        response = client.get("/api/v1/boards", headers={**bearer(forged),
                                                         "X-Request-ID": request_id})
        assert assert_problem(response, 401)["detail"] == "Invalid access token"
    assert [access_log_lines(gateway, rid)[0]["auth_cache"] for rid in ids] == ["MISS", "HIT"]


def test_cached_signature_does_not_vouch_for_another_payload(client, keys):
    """The cache key is the whole header: a cached token's signature pasted onto another
    payload is validated afresh (and refused), not served the cached decision."""
    victim = keys.token(sub=str(uuid.uuid4()))
    assert client.get("/api/v1/boards", headers=bearer(victim)).status_code == 200
    header, _, signature = victim.split(".")
    attacker = keys.token(sub=str(uuid.uuid4()))
    pasted = ".".join([header, attacker.split(".")[1], signature])
    response = client.get("/api/v1/boards", headers=bearer(pasted))
    assert assert_problem(response, 401)["detail"] == "Invalid access token"


def test_jwks_is_fetched_once_for_many_tokens(client, keys, identity):
    client.get("/api/v1/boards", headers=bearer(keys.token()))   # JWKS now cached
    before = identity.jwks_hits
    for _ in range(10):
        assert client.get("/api/v1/boards", headers=bearer(keys.token())).status_code == 200
    assert identity.jwks_hits == before


def test_key_rotation_is_picked_up_at_once(make_gateway, make_stub, keys, other_key):
    from_first = type(keys)(current=keys.current, published=[keys.current])
    stub = make_stub("identity", jwks=from_first.jwks)
    gw = make_gateway({"identity": stub.address, "boards": stub.address})
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        assert c.get("/api/v1/boards", headers=bearer(keys.token())).status_code == 200
        from_first.published.append(other_key)          # identity rotates to a new key
        token = keys.token(key=other_key)
        assert c.get("/api/v1/boards", headers=bearer(token)).status_code == 200


def test_identity_down_means_503_not_401_and_is_not_cached(make_gateway, make_stub, keys,
                                                            free_tcp_port):
    gw = make_gateway({"identity": f"127.0.0.1:{free_tcp_port}"})
    token = keys.token()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        response = c.get("/api/v1/users/me", headers=bearer(token))
        assert_problem(response, 503)
        assert response.headers["retry-after"] == "1"
        make_stub("identity", jwks=keys.jwks, port=free_tcp_port)   # identity comes up
        assert c.get("/api/v1/users/me", headers=bearer(token)).status_code == 200


# -- request ids and the access log -----------------------------------------------------------

def test_request_id_is_passed_through(client, keys):
    response = client.get("/api/v1/boards", headers={**bearer(keys.token()),
                                                     "X-Request-ID": "req-abc.123"})
    assert response.headers.get_list("x-request-id") == ["req-abc.123"]
    assert response.json()["headers"]["x-request-id"] == "req-abc.123"


def test_any_printable_request_id_is_kept(client, keys):
    for sent in ("has space", 'a,b;c"d', "x" * 200):
        response = client.get("/api/v1/boards", headers={**bearer(keys.token()),
                                                         "X-Request-ID": sent})
        assert response.headers.get_list("x-request-id") == [sent]
        assert response.json()["headers"]["x-request-id"] == sent


def test_request_id_is_generated_when_absent_or_insane(client, keys):
    for sent in (None, "x" * 201, "new\tline", "caf\xe9".encode("latin-1")):
        headers = bearer(keys.token()) | ({"X-Request-ID": sent} if sent else {})
        response = client.get("/api/v1/boards", headers=headers)
        ids = response.headers.get_list("x-request-id")
        assert len(ids) == 1 and ids[0] != sent and len(ids[0]) == 32
        assert response.json()["headers"]["x-request-id"] == ids[0]


def test_request_id_on_gateway_errors(client):
    response = client.get("/api/v1/nope", headers={"X-Request-ID": "err-1"})
    assert response.headers.get_list("x-request-id") == ["err-1"]
    response = client.get("/api/v1/boards", headers={"X-Request-ID": "err-2"})
    assert response.headers.get_list("x-request-id") == ["err-2"]


def test_access_log_is_json_without_tokens(client, gateway, keys):
    sub = str(uuid.uuid4())
    token = keys.token(sub=sub)
    request_id = f"log-{uuid.uuid4().hex}"
    client.get("/api/v1/boards?access_token=secret", headers={**bearer(token),
                                                              "X-Request-ID": request_id})
    (line,) = access_log_lines(gateway, request_id)
    assert line["status"] == 200 and line["user_id"] == sub and line["service"] == "boards"
    assert line["path"] == "/api/v1/boards" and line["upstream_time"]
    log = gateway.access_log.read_text()
    assert token not in log and token.split(".")[2] not in log and "secret" not in log
    denied_id = f"log-{uuid.uuid4().hex}"
    client.get("/api/v1/boards?x=1", headers={"X-Request-ID": denied_id})
    (denied,) = access_log_lines(gateway, denied_id)
    # The original path even when an error page answered; no user for a refused request.
    assert denied["status"] == 401 and denied["path"] == "/api/v1/boards"
    assert denied["user_id"] == ""


# -- routing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path,service", [
    ("POST", "/api/v1/auth/register", "identity"), ("POST", "/api/v1/auth/login", "identity"),
    ("POST", "/api/v1/auth/refresh", "identity"), ("POST", "/api/v1/auth/logout", "identity"),
    ("GET", "/docs/identity/openapi.json", "identity"), ("GET", "/docs/identity/", "identity"),
    ("GET", "/docs/boards/openapi.json", "boards"),
])
def test_public_routes_need_no_token(client, method, path, service):
    response = client.request(method, path)
    assert response.status_code == 200, response.text
    assert response.json()["service"] == service
    assert response.json()["path"] == path


def test_jwks_is_public(client, keys):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == keys.jwks()


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/boards", "/api/v1/boardsx",
                                  "/health/ready", "/health/live", "/", "/docs/nope/x",
                                  "/_auth", "/_problem", "/_problem/401", "/_health/boards",
                                  "/_health/"])
def test_unknown_paths_are_404_problem(client, path, boards):
    before = len(boards.hits)
    assert_problem(client.get(path), 404)
    assert len(boards.hits) == before


def test_service_not_running_is_502_problem(client, keys):
    body = assert_problem(client.get("/api/v1/teams", headers=bearer(keys.token())), 502)
    assert "workspace" in body["detail"]
    assert_problem(client.get("/docs/notifier/openapi.json"), 502)


# -- limits ----------------------------------------------------------------------------------

def test_body_over_1_mib_is_413_problem(client, keys, boards):
    before = len(boards.hits)
    response = client.post("/api/v1/boards", headers=bearer(keys.token()),
                           content=b"x" * (2 * 1024 * 1024))
    assert_problem(response, 413)
    assert len(boards.hits) == before


def test_login_flood_is_429_with_retry_after(make_gateway, identity):
    gw = make_gateway({"identity": identity.address}, auth_rate="1r/s", auth_burst=2,
                      api_rate="1000r/s", api_burst=1000)
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        statuses = []
        for _ in range(10):
            response = c.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert_problem(response, 429)
                assert response.headers["retry-after"] == "1"
        assert statuses.count(200) <= 3 and statuses.count(429) >= 7, statuses
        # Other routes are counted in the other zone and still pass.
        assert c.post("/api/v1/auth/refresh", json={}).status_code == 200


# -- /healthz --------------------------------------------------------------------------------

def test_healthz_names_failing_services(client):
    response = client.get("/healthz")
    body = assert_problem(response, 503)
    assert body["services"]["identity"] == "ok" and body["services"]["boards"] == "ok"
    assert "workspace" in body["detail"] and "notifier" in body["detail"]
    assert "identity" not in body["detail"]


def test_healthz_ok_when_every_service_is_ready(make_gateway, make_stub, keys):
    # Every service with a health endpoint (topology.toml); test_topology.py pins which
    # ones /healthz asks.
    stubs = {name: make_stub(name, jwks=keys.jwks if name == "identity" else None)
             for name in load_topology().health_services}
    gw = make_gateway({name: stub.address for name, stub in stubs.items()})
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        response = c.get("/healthz")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body == {"status": "ok", "services": dict.fromkeys(body["services"], "ok"),
                        "workers": {}}
        assert {"identity", "workspace", "boards", "notifier"} <= set(body["services"])
        stubs["boards"].ready = False
        body = assert_problem(c.get("/healthz"), 503)
        assert body["detail"] == "Not ready: boards"


def test_healthz_names_every_worker_kind_and_fails_on_a_dead_one(make_gateway, make_stub,
                                                                  keys):
    """The services report their worker kinds' heartbeat states in /health/ready."""
    stubs = {name: make_stub(name, jwks=keys.jwks if name == "identity" else None)
             for name in load_topology().health_services}
    stubs["boards"].workers = {"relay": "ok", "consumer": "ok"}
    stubs["notifier"].workers = {"consumer": "ok", "mailer": "ok"}
    gw = make_gateway({name: stub.address for name, stub in stubs.items()})
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        response = c.get("/healthz")
        assert response.status_code == 200, response.text
        assert response.json()["workers"] == {
            "boards-relay": "ok", "boards-consumer": "ok", "notifier-consumer": "ok",
            "notifier-mailer": "ok"}
        stubs["notifier"].workers["mailer"] = "failing"
        body = assert_problem(c.get("/healthz"), 503)
        assert body["detail"] == "Not ready: notifier-mailer"
        assert body["services"]["notifier"] == "ok"
        assert body["workers"]["notifier-mailer"] == "failing"


# -- rendering -------------------------------------------------------------------------------

def test_render_template_fills_only_upper_case_placeholders():
    text = "listen ${PORT}; set $x ${request_id}; return 200 $uri;"
    assert render_template(text, {"PORT": "80", "UNUSED": "x"}) == \
        "listen 80; set $x ${request_id}; return 200 $uri;"


def test_render_template_refuses_unfilled_placeholders():
    with pytest.raises(ValueError, match="API_RATE, AUTH_RATE"):
        render_template("${AUTH_RATE} ${API_RATE} ${PORT}", {"PORT": "1"})


def test_rendered_config_has_no_placeholder_left(gateway):
    text = gateway.conf_path.read_text()
    assert "${" not in text.replace("${request_id}", "")
    # "daemon off" comes from the command line, as with the official image (a duplicate fails)
    assert not re.search(r"^\s*daemon\b", text, re.M)


# -- static docs: redirects and folders -------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/schema", "/api/schema/swagger"])
def test_docs_folders_without_slash_redirect_without_html(client, path):
    response = client.get(path)
    assert response.status_code == 301
    assert response.headers["location"] == f"{path}/"   # relative: keeps host and port
    assert response.content == b""
    assert "html" not in response.headers.get("content-type", "")
    assert response.headers["x-request-id"]


def test_docs_errors_are_problem_json(client, gateway):
    for folder in ("events/schemas", "nested"):
        (Path(gateway.root) / "docs" / folder).mkdir(parents=True, exist_ok=True)
    assert_problem(client.get("/docs"), 404)
    assert_problem(client.get("/docs/events/no-such-file.json"), 404)
    # A folder without an index: no listing (nginx's 403), as problem+json.
    for path in ("/docs/events/schemas/", "/api/schema/nested/"):
        assert_problem(client.get(path), 403)
