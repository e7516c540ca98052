"""Hypothesis-driven payload edge cases for every write endpoint, through the gateway.

Each example takes a valid body for one endpoint and breaks one thing: a text field at/over
its limit in some alphabet (ASCII, astral, RTL, combining marks, ZWJ emoji, controls, NUL,
whitespace, lone surrogates), a wrong type (numbers, numbers as strings, booleans, null,
arrays, objects), odd numbers/times, or the whole body (empty object, an array instead of an
object, a scalar, deeply nested JSON, an unknown field).

Properties, for every response:
* never a 5xx; every 4xx is problem+json (type/title/status/detail);
* over-limit or blank text is refused (422), never silently truncated;
* on 2xx, what the service answered is what it stored (read back with GET), and it equals
  what was sent (up to the documented trimming of surrounding whitespace, label
  de-duplication, UTC conversion). A registered password works for login, exactly.

Own module-scoped stack (conftest-free); deterministic unless FUZZ_RANDOM=1.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from tests.e2e import security_support as sec

EXAMPLES = 40  # per endpoint
_AWARE = TypeAdapter(AwareDatetime)

ALPHABETS = {
    "ascii": "abcXYZ019-_.",
    "astral": "\U0001d11e\U0001f600\U0001f004\U00010348",      # 4 UTF-8 bytes, 2 UTF-16 units
    "rtl": "\u05e9\u05dc\u05d5\u05dd\u0645\u0631\u062d\u0628\u0627\u200f",
    "combining": "e\u0301a\u0308c\u0327\u0338",
    "zwj emoji": "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "controls": "a\x01\x1f\x7fb",
    "nul": "a\x00b",
    "newlines": "a\nb\r\n",
    "whitespace": " \t\u00a0\u2003\u3000",
    "lone surrogates": "a\ud800b\udfff",
    "bidi override": "abc\u202edef\u2066",
    "noncharacters": "\ufffe\uffff\U0010ffff",
}


@dataclass
class Text:
    limit: int
    min: int = 1
    name_like: bool = True   # stripped and single-line (names, titles, labels)


@dataclass
class Endpoint:
    method: str
    path: str
    base: Callable[[dict], dict]           # ids -> a valid body
    fields: dict[str, Any]                 # field -> Text | "int>=1" | "datetime" | ...
    read_back: Callable[[httpx.Client, dict, dict], dict] | None = None  # (api, ids, resp)
    notes: dict = field(default_factory=dict)


def _find(items: list[dict], item_id: str) -> dict:
    return next(i for i in items if i["id"] == item_id)


ENDPOINTS: dict[str, Endpoint] = {
    "register": Endpoint(
        "POST", "/api/v1/auth/register",
        lambda ids: {"email": sec.unique("edge") + "@example.com",
                     "password": "long-enough-password", "full_name": "Edge"},
        {"full_name": Text(100), "password": Text(128, min=8, name_like=False),
         "email": "email"}),
    "profile": Endpoint(
        "PATCH", "/api/v1/users/me", lambda ids: {"full_name": "Edge"},
        {"full_name": Text(100)},
        lambda api, ids, resp: sec.ok(api.get("/api/v1/users/me", headers=ids["h"]))),
    "team create": Endpoint(
        "POST", "/api/v1/teams", lambda ids: {"name": "Team"}, {"name": Text(100)},
        lambda api, ids, resp: sec.ok(api.get(f"/api/v1/teams/{resp['id']}",
                                              headers=ids["h"]))),
    "team patch": Endpoint(
        "PATCH", "/api/v1/teams/{team}", lambda ids: {"name": "Team"}, {"name": Text(100)},
        lambda api, ids, resp: sec.ok(api.get(f"/api/v1/teams/{ids['team']}",
                                              headers=ids["h"]))),
    "project create": Endpoint(
        "POST", "/api/v1/projects",
        lambda ids: {"team_id": ids["team"], "name": "Project", "description": ""},
        {"name": Text(100), "description": Text(10_000, min=0, name_like=False),
         "team_id": "uuid"},
        lambda api, ids, resp: sec.ok(api.get(f"/api/v1/projects/{resp['id']}",
                                              headers=ids["h"]))),
    "project patch": Endpoint(
        "PATCH", "/api/v1/projects/{project}", lambda ids: {"name": "Project"},
        {"name": Text(100), "description": Text(10_000, min=0, name_like=False)},
        lambda api, ids, resp: sec.ok(api.get(f"/api/v1/projects/{ids['project']}",
                                              headers=ids["h"]))),
    "board create": Endpoint(
        "POST", "/api/v1/boards", lambda ids: {"project_id": ids["project"], "name": "B"},
        {"name": Text(100), "project_id": "uuid"},
        lambda api, ids, resp: sec.ok(api.get(f"/api/v1/boards/{resp['id']}",
                                              headers=ids["h"]))),
    "board patch": Endpoint(
        "PATCH", "/api/v1/boards/{board}", lambda ids: {"name": "B"}, {"name": Text(100)},
        lambda api, ids, resp: sec.ok(api.get(f"/api/v1/boards/{ids['board']}",
                                              headers=ids["h"]))),
    "list create": Endpoint(
        "POST", "/api/v1/lists", lambda ids: {"board_id": ids["board"], "name": "L"},
        {"name": Text(100), "wip_limit": "int>=1", "board_id": "uuid"},
        lambda api, ids, resp: _find(sec.ok(api.get(
            f"/api/v1/lists?board_id={ids['board']}&limit=200", headers=ids["h"]))["items"],
            resp["id"])),
    "list patch": Endpoint(
        "PATCH", "/api/v1/lists/{spare_list}", lambda ids: {"name": "L"},
        {"name": Text(100), "wip_limit": "int>=1"},
        lambda api, ids, resp: _find(sec.ok(api.get(
            f"/api/v1/lists?board_id={ids['board']}&limit=200", headers=ids["h"]))["items"],
            ids["spare_list"])),
    "task create": Endpoint(
        "POST", "/api/v1/tasks", lambda ids: {"list_id": ids["list"], "title": "T"},
        {"title": Text(200), "description": Text(10_000, min=0, name_like=False),
         "labels": "labels", "priority": "priority", "due_at": "datetime",
         "assignee_id": "uuid", "list_id": "uuid"},
        lambda api, ids, resp: sec.ok(api.get(f"/api/v1/tasks/{resp['id']}",
                                              headers=ids["h"]))),
    "task patch": Endpoint(
        "PATCH", "/api/v1/tasks/{task}", lambda ids: {"title": "T"},
        {"title": Text(200), "description": Text(10_000, min=0, name_like=False),
         "labels": "labels", "priority": "priority", "due_at": "datetime",
         "assignee_id": "uuid"},
        lambda api, ids, resp: sec.ok(api.get(f"/api/v1/tasks/{ids['task']}",
                                              headers=ids["h"]))),
    "comment create": Endpoint(
        "POST", "/api/v1/comments", lambda ids: {"task_id": ids["task"], "body": "c"},
        {"body": Text(10_000, name_like=False), "task_id": "uuid"},
        lambda api, ids, resp: _find(sec.ok(api.get(
            f"/api/v1/comments?task_id={ids['task']}&limit=200", headers=ids["h"]))["items"],
            resp["id"])),
    "comment patch": Endpoint(
        "PATCH", "/api/v1/comments/{comment}", lambda ids: {"body": "c"},
        {"body": Text(10_000, name_like=False)},
        lambda api, ids, resp: _find(sec.ok(api.get(
            f"/api/v1/comments?task_id={ids['task']}&limit=200", headers=ids["h"]))["items"],
            ids["comment"])),
    "preferences": Endpoint(
        "PUT", "/api/v1/notifications/preferences",
        lambda ids: {"email": {"task_assigned": True, "due_soon": True, "overdue": True,
                               "comment": True, "membership": True}},
        {"email": "preferences"},
        lambda api, ids, resp: sec.ok(api.get("/api/v1/notifications/preferences",
                                              headers=ids["h"]))),
}


# --- strategies ------------------------------------------------------------------------------

WRONG_TYPES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
    st.booleans(), st.none(), st.sampled_from(["5", "1e3", "-1", "0x10", "NaN", "true", ""]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2))


@st.composite
def edge_text(draw, spec: Text) -> str:
    alphabet = draw(st.sampled_from(sorted(ALPHABETS)))
    chars = ALPHABETS[alphabet]
    length = draw(st.sampled_from(sorted({0, 1, max(spec.min - 1, 0), spec.min, spec.limit - 1,
                                          spec.limit, spec.limit + 1, spec.limit * 2})))
    text = (chars * (length // len(chars) + 1))[:length]
    if draw(st.booleans()):   # pad with whitespace: stripped for names, kept for text
        text = draw(st.sampled_from([" ", "\t", "\u00a0", "\n"])) + text + " "
    return text


def value_for(kind: Any) -> st.SearchStrategy:
    if isinstance(kind, Text):
        return st.one_of(edge_text(kind), st.text(max_size=kind.limit + 5), WRONG_TYPES)
    if kind == "int>=1":
        return st.one_of(st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**63, 10**30, 1.0,
                                          1.5, None]), WRONG_TYPES)
    if kind == "datetime":
        return st.one_of(st.sampled_from([
            "2030-01-01T00:00:00Z", "2030-01-01T00:00:00", "2030-01-01", "2030-02-30T00:00:00Z",
            "2030-01-01T23:59:60Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2030-01-01T00:00:00+14:00",
            "2030-01-01T00:00:00.123456789Z", "+12030-01-01T00:00:00Z", "now", None]),
            st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()), WRONG_TYPES)
    if kind == "labels":
        label = st.one_of(edge_text(Text(50)), st.text(max_size=52))
        return st.one_of(st.lists(label, max_size=22), st.just(["a"] * 21),
                         st.just(["dup", "dup", " dup "]), WRONG_TYPES,
                         st.lists(WRONG_TYPES, max_size=3))
    if kind == "priority":
        return st.one_of(st.sampled_from(["low", "medium", "high", "urgent", "HIGH", "",
                                          "urgent\x00", None]), WRONG_TYPES)
    if kind == "uuid":
        return st.one_of(st.uuids().map(str), st.sampled_from([
            "not-a-uuid", "00000000-0000-0000-0000-000000000000", "", "me",
            str(uuid.uuid4()).upper(), "{" + str(uuid.uuid4()) + "}",
            str(uuid.uuid4()).replace("-", "")]), WRONG_TYPES)
    if kind == "email":
        return st.one_of(st.sampled_from([
            "a@b", "@example.com", "x" * 250 + "@example.com", "a\x00b@example.com",
            "\u05e9@example.com", "a@\U0001f600.com"]), st.emails().map(
            lambda e: sec.unique("e") + e), WRONG_TYPES)
    if kind == "preferences":
        return st.one_of(st.dictionaries(st.sampled_from(
            ["task_assigned", "due_soon", "overdue", "comment", "membership", "bogus"]),
            st.one_of(st.booleans(), WRONG_TYPES), max_size=6), WRONG_TYPES)
    raise AssertionError(kind)


def deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def payload(draw, endpoint: Endpoint, ids: dict) -> tuple[str, Any]:
    """(what was done, the body); the body may be any JSON value."""
    body = endpoint.base(ids)
    kind = draw(st.sampled_from(["field"] * 6 + ["two fields", "structure"]))
    if kind in ("field", "two fields"):
        names = draw(st.lists(st.sampled_from(sorted(endpoint.fields)), min_size=1,
                              max_size=1 if kind == "field" else 2, unique=True))
        for name in names:
            body[name] = draw(value_for(endpoint.fields[name]), label=name)
        return f"{kind} {names}", body
    shape = draw(st.sampled_from(["empty object", "array", "array of body", "scalar",
                                  "null", "deep", "deep object", "unknown field",
                                  "field as object", "nested body"]))
    replacement = {
        "empty object": {}, "array": [], "array of body": [body], "scalar": 42,
        "null": None, "deep": {**body, next(iter(endpoint.fields)): deep(50_000)},
        "deep object": {"a": json.loads("{\"a\":" * 400 + "1" + "}" * 400)},
        "unknown field": {**body, "is_admin": True},
        "field as object": {k: {"value": v} for k, v in body.items()},
        "nested body": {"data": body},
    }[shape]
    return shape, replacement


# --- the stack and the seeded ids ------------------------------------------------------------


@pytest.fixture(scope="module")
def env(scratch) -> Iterator[dict]:
    with sec.private_stack(scratch.mktemp("edges-stack")) as stack, \
            httpx.Client(base_url=stack.gateway_url, timeout=60) as api:
        owner = sec.make_user(api, "edges")
        world = sec.seed_world(api, owner, "edges")
        ids = {"h": owner.headers, "team": world.team["id"], "project": world.project["id"],
               "board": world.board["id"], "list": world.lists[0]["id"],
               "spare_list": world.lists[1]["id"], "task": world.task["id"],
               "comment": world.comment["id"]}
        yield {"api": api, "ids": ids, "user": owner, "stack": stack}


def _encode(body: Any) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:   # lone surrogates: only expressible as \\u escapes
        return json.dumps(body).encode("ascii")
    except RecursionError:
        raise


def _encode_deep(body: Any) -> bytes:
    # json.dumps cannot write 50 000 levels: build the text by hand.
    if isinstance(body, dict) and any(_depth(v) > 500 for v in body.values()):
        parts = []
        for key, value in body.items():
            if _depth(value) > 500:
                depth = _depth(value)
                parts.append(json.dumps(key) + ":" + "[" * depth + '"x"' + "]" * depth)
            else:
                parts.append(json.dumps(key) + ":" + json.dumps(value))
        return ("{" + ",".join(parts) + "}").encode()
    return _encode(body)


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list) and len(value) == 1:
        depth += 1
        value = value[0]
    return depth


# --- the expectations ------------------------------------------------------------------------


def _expected_text(sent: str, spec: Text) -> str:
    return sent.strip() if spec.name_like else sent


def _check_accepted(endpoint: Endpoint, body: Any, response: httpx.Response,
                    stored: dict | None, env: dict) -> list[str]:
    """The response is 2xx: compare what was sent, answered and stored."""
    problems = []
    answered = response.json() if response.content else {}
    if stored is not None and answered:
        for key, value in answered.items():
            if key in stored and key not in ("updated_at", "version", "lists", "my_role") \
                    and stored[key] != value:
                problems.append(f"stored {key}={stored[key]!r} != answered {value!r}")
    if not isinstance(body, dict):
        return problems + [f"accepted a non-object body {type(body).__name__}"]
    for name, kind in endpoint.fields.items():
        if name not in body or name == "password":
            continue
        sent, got = body[name], (stored or answered).get(name)
        if isinstance(kind, Text):
            if not isinstance(sent, str):
                problems.append(f"{name}: accepted a {type(sent).__name__} for text")
                continue
            expected = _expected_text(sent, kind)
            if got != expected:
                problems.append(f"{name}: sent {sent[:80]!r} stored {str(got)[:80]!r}")
            if len(expected) > kind.limit or len(expected) < kind.min:
                problems.append(f"{name}: accepted {len(expected)} characters "
                                f"(limit {kind.min}-{kind.limit})")
        elif kind == "labels" and isinstance(sent, list):
            expected_labels = list(dict.fromkeys(s.strip() for s in sent
                                                 if isinstance(s, str)))
            if got != expected_labels:
                problems.append(f"labels: sent {sent!r} stored {got!r}")
            if any(not isinstance(s, str) for s in sent):
                problems.append(f"labels: accepted non-strings {sent!r}")
        elif kind == "datetime" and got is not None:
            try:
                parsed = _AWARE.validate_python(sent)
            except ValidationError:
                problems.append(f"due_at: accepted {sent!r} (not an RFC 3339 time with offset)")
                continue
            if _AWARE.validate_python(got) != parsed or not got.endswith("Z"):
                problems.append(f"due_at: sent {sent!r} stored {got!r}")
        elif kind == "int>=1" and got is not None:
            # Lax coercion of an integral number ("5", 5.0) is fine; any other change is not.
            try:
                number = int(sent) if float(sent) == int(float(sent)) else None
            except (TypeError, ValueError, OverflowError):
                number = None
            if number is None or got != number or number < 1:
                problems.append(f"wip_limit: sent {sent!r} stored {got!r}")
    return problems


def _attempt(env: dict, name: str, what: str, body: Any, failures: dict[str, str]) -> int:
    """Send one body to endpoint ``name``; record what is wrong; return the status."""
    endpoint = ENDPOINTS[name]
    api, ids = env["api"], env["ids"]
    content = _encode_deep(body)
    response = api.request(endpoint.method, endpoint.path.format(**ids), content=content,
                           headers={**ids["h"], "Content-Type": "application/json"})
    where = f"{what}: {content[:160]!r}"
    if response.status_code >= 500:
        cause = ""
        if response.status_code == 502 and env.get("had_500"):
            cause = " (probably not this input: an earlier 500 left a dead keep-alive " \
                    "connection in the gateway; see test_a_500_does_not_break_the_next_request)"
        env["had_500"] = env.get("had_500") or response.status_code == 500
        failures.setdefault(f"{response.status_code} on {what}{cause}",
                            f"{where} -> {response.text[:200]}")
    elif response.status_code >= 400:
        if (why := sec.is_problem(response)) is not None:
            failures.setdefault(f"{response.status_code} not problem+json ({why})", where)
    else:
        stored = endpoint.read_back(api, ids, response.json()) if endpoint.read_back else None
        for problem in _check_accepted(endpoint, body, response, stored, env):
            failures.setdefault(problem, where)
        if name == "register":
            # The password was accepted as sent: exactly that string logs in.
            login = api.post("/api/v1/auth/login", content=_encode(
                {"email": body["email"], "password": body["password"]}),
                headers={"Content-Type": "application/json"})
            if login.status_code != 200:
                failures.setdefault("registered password does not log in",
                                    f"{where} -> login {login.status_code}")
    return response.status_code


def _report(name: str, failures: dict[str, str]) -> str:
    return f"{name}: {len(failures)} distinct failure(s):\n" + "\n".join(
        f"  - {k}\n      e.g. {v}" for k, v in sorted(failures.items()))


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_text_limits_in_every_alphabet(env, name):
    """Deterministic: every text field of the endpoint, in every alphabet, at its limit and
    one over it (over -> 422; at the limit -> accepted unless the alphabet is refused, and
    then stored exactly)."""
    endpoint = ENDPOINTS[name]
    failures: dict[str, str] = {}
    for field_name, spec in endpoint.fields.items():
        if not isinstance(spec, Text):
            continue
        for alphabet, chars in ALPHABETS.items():
            for length in (spec.limit, spec.limit + 1):
                text = (chars * (length // len(chars) + 1))[:length]
                body = {**endpoint.base(env["ids"]), field_name: text}
                status = _attempt(env, name, f"{field_name} {alphabet} x{length}", body,
                                  failures)
                if length > spec.limit and status < 400:
                    failures.setdefault(f"{field_name}: {length} {alphabet} characters "
                                        f"accepted (limit {spec.limit})", text[:40])
    assert not failures, _report(name, failures)


NON_TEXT = {"int>=1", "datetime", "labels"}


@pytest.mark.parametrize("name", [n for n, e in ENDPOINTS.items()
                                  if NON_TEXT & {str(kind) for kind in e.fields.values()}])
def test_number_time_and_label_edges(env, name):
    """Deterministic: every listed edge of every non-text field."""
    endpoint = ENDPOINTS[name]
    failures: dict[str, str] = {}
    edges = {
        "int>=1": [0, 1, -1, 2**31 - 1, 2**31, 2**63, 10**30, 1.0, 1.5, "5", True, None,
                   float("inf")],
        "datetime": ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00", "2030-02-30T00:00:00Z",
                     "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00",
                     "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "2030-01-01T00:00:00+14:00", "2030-01-01T00:00:00.123456789Z", 0],
        "labels": [[], ["a"] * 20, ["a"] * 21, ["x" * 50], ["x" * 51], [""], [" "],
                   ["dup", "dup", " dup "], ["\U0001f600" * 50], [1], [["a"]], "a"],
    }
    for field_name, kind in endpoint.fields.items():
        for value in edges.get(str(kind), []):
            body = {**endpoint.base(env["ids"]), field_name: value}
            _attempt(env, name, f"{field_name}={value!r}"[:80], body, failures)
    assert not failures, _report(name, failures)


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_payload_edges(env, name):
    """Hypothesis: random mixes of the above, wrong types and broken structures."""
    endpoint = ENDPOINTS[name]
    failures: dict[str, str] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              derandomize=os.environ.get("FUZZ_RANDOM") != "1",
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        what, body = data.draw(payload(endpoint, env["ids"]))
        _attempt(env, name, what, body, failures)

    run()
    assert not failures, _report(name, failures)


def test_body_over_one_mebibyte_is_413_problem(env):
    api, ids = env["api"], env["ids"]
    big = json.dumps({"list_id": ids["list"], "title": "big",
                      "description": "x" * (1024 * 1024 + 10)})
    response = api.post("/api/v1/tasks", content=big,
                        headers={**ids["h"], "Content-Type": "application/json"})
    assert response.status_code == 413 and sec.is_problem(response) is None, response.text


def test_a_500_does_not_break_the_next_request(env):
    """Whatever one request does to a service, the next request (maybe another client's, on
    the gateway's pooled upstream connection) is not affected: no 502 after a 5xx. A value
    the database cannot store is sent first (a 500 at the time of writing), then a valid
    POST."""
    api, ids = env["api"], env["ids"]
    statuses = []
    for _ in range(5):   # a race (uvicorn closes the connection after its 500): retry it
        bad = api.post("/api/v1/lists", json={"board_id": ids["board"], "name": "L",
                                              "wip_limit": 2**31}, headers=ids["h"])
        # A POST: nginx retries an idempotent request on a fresh connection, never a POST.
        good = api.post("/api/v1/lists", json={"board_id": ids["board"], "name": "ok"},
                        headers=ids["h"])
        statuses.append((bad.status_code, good.status_code))
    assert all(good == 201 for _, good in statuses), statuses
