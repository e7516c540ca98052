"""nginx.conf.template against topology.toml.

The template is written by hand (the container image renders it with envsubst from the
environment, without topology.toml), so these tests hold the two together:

* statically: the routing map holds exactly the topology's routes, each to its service; there
  is one upstream per service with routes or a health endpoint, and no other; /healthz asks
  exactly the services with a health endpoint, at their health path; the JWKS comes from the
  service that publishes it; every error status nginx turns into problem+json has a title and
  a detail; the gateway's response headers are added in one place;
* live: a real nginx in front of one stub per service gets a request along every route (a
  public one without a token, a protected one without and with one) and next to every route
  (a path that must not be routed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from devstack.gateway import gateway_dir
from devstack.topology import Route
from devstack.topology import load as load_topology

TOPOLOGY = load_topology()
TEMPLATE = gateway_dir() / "nginx.conf.template"
AUTH_JS = gateway_dir() / "auth.js"


# --- a small reader of nginx's configuration syntax ----------------------------------------


@dataclass
class Directive:
    args: list[str]                          # name first; quotes removed
    block: list[Directive] | None = None     # the {...} that follows, if any
    parents: list[list[str]] = field(default_factory=list)   # enclosing blocks' args

    @property
    def name(self) -> str:
        return self.args[0]


def parse_nginx(text: str) -> list[Directive]:
    """Directives and blocks as nginx reads them: ``#`` comments, '...' and "..." strings,
    ``${NAME}`` placeholders kept as one word."""
    root: list[Directive] = []
    stack: list[tuple[list[Directive], list[list[str]]]] = [(root, [])]
    words: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif char in "'\"":
            end = i + 1
            while text[end] != char:
                end += 2 if text[end] == "\\" else 1
            words.append(text[i + 1:end].replace("\\" + char, char))
            i = end + 1
        elif char == ";":
            stack[-1][0].append(Directive(words, None, stack[-1][1]))
            words, i = [], i + 1
        elif char == "{" and words and words[0].endswith("_by_lua_block"):
            depth, end = 1, i + 1   # Lua code: kept as one word, up to its closing brace
            while depth:
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                end += 1
            stack[-1][0].append(Directive([*words, text[i + 1:end - 1].strip()], None,
                                          stack[-1][1]))
            words, i = [], end
        elif char == "{":
            directive = Directive(words, [], stack[-1][1])
            stack[-1][0].append(directive)
            assert directive.block is not None
            stack.append((directive.block, [*stack[-1][1], words]))
            words, i = [], i + 1
        elif char == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
            i += 1
        else:
            match = re.compile(r"(\$\{[A-Z0-9_]+\}|[^\s;{}'\"#])+").match(text, i)
            assert match, text[i:i + 40]
            words.append(match.group(0))
            i = match.end()
    assert len(stack) == 1 and not words, "unbalanced braces"
    return root


def walk(directives: list[Directive]) -> Iterator[Directive]:
    for directive in directives:
        yield directive
        if directive.block is not None:
            yield from walk(directive.block)


@pytest.fixture(scope="module")
def config() -> list[Directive]:
    return parse_nginx(TEMPLATE.read_text())


def find(config: list[Directive], *args: str) -> Directive:
    found = [d for d in walk(config) if d.args[:len(args)] == list(args)]
    assert len(found) == 1, f"{' '.join(args)}: {len(found)} found"
    return found[0]


def map_entries(config: list[Directive], source: str, target: str) -> dict[str, str]:
    block = find(config, "map", source, target).block
    assert block is not None
    return {d.args[0]: d.args[1] for d in block}


def public_server(config: list[Directive]) -> Directive:
    servers = [d for d in walk(config) if d.name == "server" and d.block is not None]
    (public,) = [s for s in servers if any(d.args[:2] == ["listen", "${GATEWAY_LISTEN}"]
                                           for d in s.block or [])]
    return public


# --- the template, read --------------------------------------------------------------------


def map_key(route: Route) -> str:
    """How the template's routing map writes a topology route."""
    pattern = route.path.replace(".", "\\.")
    if route.match == "exact":
        return route.path
    if route.match == "below":
        return f"~^{pattern}"
    return f"~^{pattern}(/|$)"


def test_the_routing_map_is_exactly_the_topology(config: list[Directive]) -> None:
    block = find(config, "map", "$uri", "$route_service").block
    assert block is not None
    entries = {d.args[0]: d.args[1] for d in block}
    assert entries.pop("default") == ""
    expected = {map_key(route): route.service for route in TOPOLOGY.routes}
    assert entries == expected
    assert len(block) == len(expected) + 1, "a key written twice"


def test_one_upstream_per_service_with_routes_or_health(config: list[Directive]) -> None:
    upstreams = {}
    for directive in walk(config):
        if directive.name == "upstream":
            assert directive.block is not None
            (server,) = [d for d in directive.block if d.name == "server"]
            upstreams[directive.args[1]] = server.args[1]
    assert upstreams.pop("auth_validator") == "${VALIDATOR_LISTEN}"
    assert upstreams == {s.name: "${" + s.upstream_variable + "}" for s in TOPOLOGY.services
                         if s.name in TOPOLOGY.gateway_upstreams}
    placeholders = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*_UPSTREAM)\}", TEMPLATE.read_text()))
    assert placeholders == {TOPOLOGY.service(name).upstream_variable
                            for name in TOPOLOGY.gateway_upstreams}


def test_healthz_asks_the_services_with_a_health_endpoint(config: list[Directive]) -> None:
    healthz = find(config, "location", "=", "/healthz")
    assert healthz.block is not None
    (names,) = [d.args[2] for d in healthz.block if d.args[:2] == ["set", "$health_services"]]
    assert names.split() == list(TOPOLOGY.health_services)
    # /_health/<name> reaches the upstream of that name at its health path.
    health = find(config, "location", "~", "^/_health/(?<health_service>[a-z][a-z0-9_]*)$")
    assert health.block is not None
    (proxy,) = [d.args[1] for d in health.block if d.name == "proxy_pass"]
    paths = {TOPOLOGY.service(name).health for name in TOPOLOGY.health_services}
    assert {proxy.removeprefix("http://$health_service")} == paths, \
        "one health path for every service; a different one needs a map in the template"
    assert ["internal"] in [d.args for d in health.block]


def test_the_jwks_comes_from_the_service_that_publishes_it(config: list[Directive]) -> None:
    (owner,) = [r.service for r in TOPOLOGY.routes
                if r.match == "exact" and r.path == "/.well-known/jwks.json"]
    fetches = [d.args[1] for d in walk(config)
               if d.name == "proxy_pass" and d.args[1].endswith("/.well-known/jwks.json")]
    assert fetches == [f"http://{owner}/.well-known/jwks.json"] * 2   # cached, refreshed


def test_every_problem_status_has_a_title_and_a_detail(config: list[Directive]) -> None:
    server = public_server(config)
    assert server.block is not None
    pages = {}
    for directive in server.block:
        if directive.name == "error_page":
            *codes, target = directive.args[1:]
            for code in codes:
                if not code.startswith("="):
                    pages[int(code)] = (target, [c for c in codes if c.startswith("=")])
    assert pages.pop(401) == ("/_problem/401", ["="])
    assert pages.pop(494) == ("/_problem", ["=400"])
    assert {target for target, _ in pages.values()} == {"/_problem"}
    assert all(overwrite == [] for _, overwrite in pages.values()), \
        "without '=' an error page keeps the error's status"
    titles = map_entries(config, "$status", "$problem_title")
    details = map_entries(config, "$status", "$problem_detail")
    for entries in (titles, details):
        entries.pop("default")
        assert {int(code) for code in entries} == set(pages)
    assert all(re.fullmatch(r"[A-Za-z $_;,.0-9-]+", text) for text in
               [*titles.values(), *details.values()]), "goes into a JSON string unescaped"


def test_response_headers_are_added_in_one_place(config: list[Directive]) -> None:
    """add_header in a location would drop the server's (nginx inherits all or none)."""
    added = [d for d in walk(config) if d.name == "add_header"]
    assert {d.args[1] for d in added} == {"X-Request-ID", "Retry-After", "WWW-Authenticate",
                                          "Cache-Control"}
    assert len(added) == 4
    server = public_server(config)
    assert all(d.parents == [*server.parents, server.args] for d in added)


# --- the template, running -----------------------------------------------------------------


def samples(route: Route) -> tuple[list[str], list[str]]:
    """Paths the route must take, and paths next to it that no route may take."""
    if route.match == "exact":
        inside, outside = [route.path], [route.path + "/x", route.path + "x"]
    elif route.match == "below":
        inside, outside = [route.path + "x", route.path + "x/y"], [route.path.rstrip("/")]
    else:
        inside, outside = [route.path, route.path + "/1"], [route.path + "x"]
    return inside, [p for p in outside if not any(r.matches(p) for r in TOPOLOGY.routes)]


@pytest.fixture
def platform(make_gateway, make_stub, keys):
    """A gateway in front of one stub per service of the topology."""
    stubs = {name: make_stub(name, jwks=keys.jwks if name == "identity" else None)
             for name in TOPOLOGY.gateway_upstreams}
    gw = make_gateway({name: stub.address for name, stub in stubs.items()},
                      auth_rate="1000r/s", auth_burst=1000, api_rate="1000r/s",
                      api_burst=1000)
    return gw, stubs


def test_every_route_reaches_its_service(platform, keys) -> None:
    gw, stubs = platform
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        for route in TOPOLOGY.routes:
            check_route(client, keys, route, stubs[route.service])


def check_route(client: httpx.Client, keys, route: Route, stub) -> None:
    inside, _ = samples(route)
    for path in inside:
        if path == "/.well-known/jwks.json":    # the stub answers it itself
            assert client.get(path).json() == keys.jwks()
            continue
        before = len(stub.hits)
        anonymous = client.get(path)
        if route.public:
            assert anonymous.status_code == 200, (path, anonymous.text)
            assert anonymous.json()["service"] == route.service, path
            assert anonymous.json()["path"] == path
            continue
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert len(stub.hits) == before, f"{path} reached {route.service} without a token"
        signed = client.get(path, headers={"Authorization": f"Bearer {keys.token()}"})
        assert signed.status_code == 200, (path, signed.text)
        assert signed.json()["service"] == route.service, path
        assert signed.json()["path"] == path


def test_nothing_next_to_a_route_is_routed(platform, keys) -> None:
    gw, stubs = platform
    outside = [path for route in TOPOLOGY.routes for path in samples(route)[1]]
    assert len(outside) >= len(TOPOLOGY.routes)
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        for path in outside:
            for headers in ({}, {"Authorization": f"Bearer {keys.token()}"}):
                response = client.get(path, headers=headers)
                assert response.status_code == 404, (path, response.text)
    assert all(stub.hits == [] for stub in stubs.values())


def test_services_without_docs_have_no_docs_route(platform) -> None:
    gw, _ = platform
    without = [s.name for s in TOPOLOGY.services if not s.docs]
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        for name in without:
            for path in (f"/docs/{name}", f"/docs/{name}/", f"/docs/{name}/openapi.json"):
                assert client.get(path).status_code == 404, path


def test_healthz_asks_every_service_with_a_health_endpoint(platform) -> None:
    gw, _ = platform
    response = httpx.get(f"{gw.url}/healthz", timeout=10)
    assert response.status_code == 200, response.text
    asked = list(response.json()["services"])
    assert asked == list(TOPOLOGY.health_services)
