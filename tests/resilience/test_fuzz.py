"""Schemathesis against every service's OpenAPI document, through the gateway, as a
registered user whose team/project/board/lists/tasks/comment/notification exist (so some
generated ids resolve).

For every operation: positive and negative (schema-violating) cases, with random ids and with
the seeded ids. Every response must pass:

* no 5xx at all (``not_a_server_error`` + our own check, which also covers gateway errors);
* every 4xx/5xx is RFC 9457 problem+json with type/title/status/detail (our check);
* ``status_code_conformance``, ``content_type_conformance``, ``response_headers_conformance``,
  ``response_schema_conformance``: the response is documented and matches its schema;
* ``negative_data_rejection``: a schema-violating request is refused with a 4xx;
* ``ignored_auth``: an operation that declares bearer auth refuses a request without it.

Checks not used, and why:
* ``positive_data_acceptance``: a valid-by-schema request may rightly fail (random ids -> 404,
  a WIP limit -> 409, wrong current password -> 422, login -> 401).
* ``use_after_free`` / ``ensure_resource_availability``: stateful (link-following) checks; the
  API declares no OpenAPI links, and the isolation/e2e tests cover lifecycles.
* ``missing_required_header`` / ``unsupported_method``: extra probe requests per case about
  HTTP semantics (optional If-Match; 405 + Allow for undeclared methods) that are not part of
  this contract; they would double the run time.
* ``max_response_time``: timing on a shared 2-core machine is not a correctness signal.

Also not a failure here: /health/live and /health/ready are in every service's document but
the gateway does not route them (it serves /healthz); they are called on the service itself.

Bounded: at most 64 cases per operation (20+20 positive with random/seeded path ids, 12+12
negative), no shrinking, deterministic (derandomized) unless FUZZ_RANDOM=1. About 2 minutes
on 2 cores, including the ~35 s stack start.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e import security_support as sec

SERVICES = ["identity", "notifier", "boards", "workspace"]   # workspace last: it deletes
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection,
          ignored_auth]
EXAMPLES = {  # (mode, with seeded path ids) -> max examples per operation
    (GenerationMode.POSITIVE, False): 20,
    (GenerationMode.POSITIVE, True): 20,
    (GenerationMode.NEGATIVE, False): 12,
    (GenerationMode.NEGATIVE, True): 12,
}
# DELETEs run after everything else, children before parents.
DELETE_ORDER = ["/api/v1/comments", "/api/v1/tasks", "/api/v1/lists", "/api/v1/boards",
                "/api/v1/projects/{id}/members", "/api/v1/projects",
                "/api/v1/teams/{id}/members", "/api/v1/teams"]


@dataclass
class Fuzz:
    stack: Any
    token: str
    path_ids: dict[str, str]
    field_ids: dict[str, list[str]]
    # "<operation> [mode]" -> {failure summary: an example curl command}
    failures: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@pytest.fixture(scope="module")
def fuzz(scratch) -> Iterator[Fuzz]:
    with sec.private_stack(scratch.mktemp("fuzz-stack")) as stack, \
            httpx.Client(base_url=stack.gateway_url, timeout=30) as api:
        owner = sec.make_user(api, "fuzz-owner")
        helper = sec.make_user(api, "fuzz-helper")
        world = sec.seed_world(api, owner, "fuzz")
        sec.ok(api.post(f"/api/v1/teams/{world.team['id']}/members",
                        json={"email": helper.email, "role": "member"},
                        headers=owner.headers), 201)
        sec.ok(api.post(f"/api/v1/projects/{world.project['id']}/members",
                        json={"user_id": helper.id, "role": "editor"},
                        headers=owner.headers), 201)
        task2 = sec.ok(api.post("/api/v1/tasks", json={"list_id": world.lists[0]["id"],
                                                       "title": "second"},
                                headers=owner.headers), 201)
        # The owner gets a notification: the helper adds them to a team of the helper's.
        other = sec.ok(api.post("/api/v1/teams", json={"name": "helper's"},
                                headers=helper.headers), 201)
        sec.ok(api.post(f"/api/v1/teams/{other['id']}/members",
                        json={"email": owner.email, "role": "member"},
                        headers=helper.headers), 201)
        note = sec.until(lambda: api.get("/api/v1/notifications",
                                         headers=owner.headers).json()["items"], timeout=30)
        yield Fuzz(
            stack=stack, token=owner.access_token,
            path_ids={"team": world.team["id"], "project": world.project["id"],
                      "user_id": helper.id, "board_id": world.board["id"],
                      "list_id": world.lists[0]["id"], "task_id": world.task["id"],
                      "comment_id": world.comment["id"], "notification": note[0]["id"]},
            field_ids={"team_id": [world.team["id"]], "project_id": [world.project["id"]],
                       "board_id": [world.board["id"]],
                       "list_id": [world.lists[0]["id"], world.lists[1]["id"]],
                       "task_id": [world.task["id"], task2["id"]],
                       "before_id": [world.lists[1]["id"], task2["id"]],
                       "after_id": [world.lists[1]["id"], task2["id"]],
                       "assignee_id": [owner.id, helper.id],
                       "user_id": [helper.id], "email": [helper.email]})


def _known_path_parameters(path: str, names: list[str], fuzz: Fuzz) -> dict[str, str] | None:
    ids = fuzz.path_ids
    values = {}
    for name in names:
        if name == "id":
            for prefix, key in (("/api/v1/teams/", "team"), ("/api/v1/projects/", "project"),
                                ("/api/v1/notifications/", "notification")):
                if path.startswith(prefix):
                    values[name] = ids[key]
        elif name in ids:
            values[name] = ids[name]
    return values if len(values) == len(names) and values else None


T = TypeVar("T")
E = TypeVar("E", bound=Exception)


def _operation(result: Ok[T] | Err[E]) -> T:
    """An operation of the schema; one its document describes badly fails the test with
    schemathesis's own error."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def _order(operation) -> tuple:
    if operation.method.upper() != "DELETE":
        return (0, 0, operation.path)
    rank = next((i for i, prefix in enumerate(DELETE_ORDER) if operation.path.startswith(prefix)
                 and (prefix.endswith("members") or "members" not in operation.path)),
                len(DELETE_ORDER))
    return (1, rank, operation.path)


def _problem_check(response: schemathesis.Response) -> str | None:
    """Our own check: no 5xx, and every error is problem+json (gateway errors included)."""
    text = response.content[:200].decode(errors="replace")
    if response.status_code >= 500:
        return f"server error {response.status_code}: {text}"
    if response.status_code >= 400:
        headers = [(k, v) for k, values in response.headers.items() for v in values]
        why = sec.is_problem(httpx.Response(response.status_code, headers=headers,
                                            content=response.content))
        if why:
            return f"{response.status_code} is not problem+json ({why}): {text}"
    return None


def _removes_authorization(case) -> bool:
    data = getattr(getattr(case.meta, "phase", None), "data", None)
    for mutation in getattr(data, "mutations", ()) or ():
        if mutation.parameter_location == ParameterLocation.HEADER and "authorization" in \
                f"{mutation.parameter} {mutation.original_value}".lower():
            return True
    return False


def _substitute_fields(container: Any, fuzz: Fuzz, data: st.DataObject) -> None:
    """In a positive case, replace id-like fields with seeded ids (drawn, so only some)."""
    if not isinstance(container, dict):
        return
    for name, choices in fuzz.field_ids.items():
        if name in container and data.draw(st.booleans(), label=f"use seeded {name}"):
            container[name] = data.draw(st.sampled_from(choices), label=name)


@dataclass
class Target:
    """One operation, where to send it, and how to label what it does."""

    operation: Any
    label: str
    base_url: str
    headers: dict[str, str]
    known: dict[str, str] | None


def _target(operation, fuzz: Fuzz, service: str) -> Target:
    # /health/* are in each service's own document but are not public: the gateway does not
    # route them (it has /healthz). They are checked on the service itself.
    base_url = fuzz.stack.services[service].url if operation.path.startswith("/health/") \
        else fuzz.stack.gateway_url
    path_names = [p.name for p in operation.path_parameters]
    known = _known_path_parameters(operation.path, path_names, fuzz) if path_names else None
    return Target(operation, f"{operation.method.upper()} {operation.path}", base_url,
                  {"Authorization": f"Bearer {fuzz.token}"}, known)


def _send_and_check(case, data, target: Target, mode: GenerationMode, seeded: bool,
                    fuzz: Fuzz, session: requests.Session) -> None:
    if mode == GenerationMode.POSITIVE:
        _substitute_fields(case.body, fuzz, data)
        _substitute_fields(case.query, fuzz, data)
    # A negative case whose mutation removed the Authorization header is sent without ours
    # (ours would undo the mutation): it then tests "no token" -> 401, instead of reporting
    # a false "accepted negative data".
    sent = {} if _removes_authorization(case) else target.headers
    response = case.call(base_url=target.base_url, session=session, headers=sent, timeout=30)
    fuzz.counts[target.label] += 1
    found = []
    if problem := _problem_check(response):
        found.append(f"problem+json: {problem}")
    try:
        case.validate_response(response, checks=CHECKS, headers=sent)
    except FailureGroup as group:
        found.extend(f"{type(failure).__name__}: "
                     f"{' '.join(str(failure.message).split())[:300]} "
                     f"(status {response.status_code})" for failure in group.exceptions)
    where = f"{target.label} [{mode.value}{', seeded ids' if seeded else ''}]"
    for summary in found:
        fuzz.failures[where].setdefault(
            summary, case.as_curl_command(headers=sent, base_url=target.base_url)[:600])


def _fuzz_mode(target: Target, mode: GenerationMode, seeded: bool, examples: int,
               fuzz: Fuzz, session: requests.Session) -> None:
    strategy = target.operation.as_strategy(generation_mode=mode,
                                            path_parameters=target.known if seeded else None)

    @settings(max_examples=examples, deadline=None, database=None,
              derandomize=os.environ.get("FUZZ_RANDOM") != "1",
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(case=strategy, data=st.data())
    def run(case, data):
        _send_and_check(case, data, target, mode, seeded, fuzz, session)

    try:
        run()
    except Unsatisfiable:
        # Nothing to negate (no parameters or body left to break): no negative cases.
        assert mode == GenerationMode.NEGATIVE, f"{target.label}: no {mode.value} case"


def _run_operation(operation, fuzz: Fuzz, session: requests.Session, service: str) -> None:
    target = _target(operation, fuzz, service)
    for (mode, seeded), examples in EXAMPLES.items():
        if not seeded or target.known is not None:
            _fuzz_mode(target, mode, seeded, examples, fuzz, session)


@pytest.mark.parametrize("service", SERVICES)
def test_fuzz_service_through_the_gateway(fuzz: Fuzz, service: str):
    schema = schemathesis.openapi.from_url(
        f"{fuzz.stack.gateway_url}/docs/{service}/openapi.json")
    operations = sorted((_operation(result) for result in schema.get_all_operations()),
                        key=_order)
    assert operations, f"{service}: no operations in its OpenAPI document"
    with requests.Session() as session:
        for operation in operations:
            _run_operation(operation, fuzz, session, service)
    mine = {k: v for k, v in fuzz.failures.items()
            if any(k.split(" [")[0] == f"{op.method.upper()} {op.path}" for op in operations)}
    sent = sum(fuzz.counts[f"{op.method.upper()} {op.path}"] for op in operations)
    report = []
    for where, problems in sorted(mine.items()):
        report.append(f"{where}:")
        report.extend(f"  - {summary}\n      e.g. {curl}" for summary, curl in
                      sorted(problems.items())[:6])
    assert not mine, f"{service}: {sent} requests, failures:\n" + "\n".join(report)
