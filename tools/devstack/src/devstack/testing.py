"""Helpers for black-box tests through the gateway (importable from any test module)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx
from chassis.errors import PROBLEM_TYPES, code_for_status, problem_type_uri


@dataclass
class User:
    id: str
    email: str
    password: str
    full_name: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


# One entry of a Redis stream as a client without decode_responses returns it.
StreamEntry = tuple[bytes, dict[bytes, bytes]]


def stream_entries(answer: object) -> list[StreamEntry]:
    """An XRANGE/XREVRANGE answer of a Redis client made without ``decode_responses``,
    typed as what it is (redis-py types it for any client: str or bytes, parts possibly
    None); an empty list for a missing stream."""
    return cast(list[StreamEntry], answer or [])


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def register_and_login(api: httpx.Client, name: str = "user",
                       password: str = "correct horse battery") -> User:
    email = unique_email(name)
    registered = api.post("/api/v1/auth/register",
                          json={"email": email, "password": password, "full_name": name})
    assert registered.status_code == 201, registered.text
    login = api.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    tokens = login.json()
    return User(id=registered.json()["id"], email=email, password=password, full_name=name,
                access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The response has ``status``; its JSON body (None when it has no body)."""
    assert response.status_code == status, \
        f"{response.request.method} {response.request.url}: {response.status_code} " \
        f"{response.text}"
    return response.json() if response.content else None


def created(response: httpx.Response) -> Any:
    """The response is a 201; the created resource."""
    return ok(response, 201)


def project_with_member(api: httpx.Client, owner: User, member: User, role: str = "editor",
                        *, name: str = "Project") -> dict[str, Any]:
    """A new team of ``owner`` with ``member`` in it, and a project of that team (named
    ``name``) where ``member`` has ``role``. Returns the project."""
    team = created(api.post("/api/v1/teams", json={"name": f"{name} team"},
                            headers=owner.headers))
    created(api.post(f"/api/v1/teams/{team['id']}/members",
                     json={"email": member.email, "role": "member"}, headers=owner.headers))
    project: dict[str, Any] = created(api.post(
        "/api/v1/projects", json={"team_id": team["id"], "name": name}, headers=owner.headers))
    created(api.post(f"/api/v1/projects/{project['id']}/members",
                     json={"user_id": member.id, "role": role}, headers=owner.headers))
    return project


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Calls ``predicate`` until it returns something truthy, and returns that; fails the
    test after ``timeout`` seconds (effects of events arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
    return value


def assert_problem(response: httpx.Response, status: int,
                   code: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem+json with ``status`` and a ``type`` of the
    catalogue: ``/problems/<code>`` if ``code`` is given, else any type of that status."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), \
        response.headers
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    if code is not None:
        assert body["type"] == problem_type_uri(code), body
    else:
        allowed = {problem_type_uri(c) for c, kind in PROBLEM_TYPES.items()
                   if kind.status == status} or {problem_type_uri(code_for_status(status))}
        assert body["type"] in allowed, body
    assert body["title"] == PROBLEM_TYPES[body["type"].removeprefix("/problems/")].title
    if status == 422:
        assert body["errors"] and all("loc" in e and "msg" in e for e in body["errors"]), body
    return body
