"""The permission matrix: every endpoint x every kind of caller -> the status the contract
implies.

Callers: team owner, team admin, plain team member without a project role, explicit project
admin / editor / viewer (all plain team members), and an outsider. Visibility rule: what the
caller cannot see is 404, visible but role too low is 403. Every endpoint also answers 401
without a (valid) token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
import pytest

from services.workspace.tests.workspace_helpers import (
    ROLES,
    World,
    assert_problem,
    sign_token,
)


class Caller(Protocol):
    """Who calls a route: a :class:`TestUser`, or a :class:`BadCaller`."""

    @property
    def headers(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class BadCaller:
    """A caller sending these headers (a bad token, or none)."""

    headers: dict[str, str]


Call = Callable[[httpx.AsyncClient, World, Caller], Awaitable[httpx.Response]]

OK_TEAM = {"owner": 200, "admin": 200, "member": 200, "p_admin": 200, "p_editor": 200,
           "p_viewer": 200, "outsider": 404}
MANAGE_TEAM = {"owner": 200, "admin": 200, "member": 403, "p_admin": 403, "p_editor": 403,
               "p_viewer": 403, "outsider": 404}
OK_PROJECT = {"owner": 200, "admin": 200, "member": 404, "p_admin": 200, "p_editor": 200,
              "p_viewer": 200, "outsider": 404}
ADMIN_PROJECT = {"owner": 200, "admin": 200, "member": 404, "p_admin": 200, "p_editor": 403,
                 "p_viewer": 403, "outsider": 404}


def with_success(table: dict[str, int], code: int) -> dict[str, int]:
    return {role: code if status == 200 else status for role, status in table.items()}


@dataclass(frozen=True)
class Case:
    name: str
    call: Call
    expected: dict[str, int]
    mutates: bool


def team_path(w: World, suffix: str = "") -> str:
    return f"/api/v1/teams/{w.team['id']}{suffix}"


def project_path(w: World, suffix: str = "") -> str:
    return f"/api/v1/projects/{w.project['id']}{suffix}"


CASES = [
    Case("POST /teams",
         lambda c, w, u: c.post("/api/v1/teams", json={"name": "Mine"}, headers=u.headers),
         dict.fromkeys(ROLES, 201), mutates=True),
    Case("GET /teams", lambda c, w, u: c.get("/api/v1/teams", headers=u.headers),
         dict.fromkeys(ROLES, 200), mutates=False),
    Case("GET /teams/{id}", lambda c, w, u: c.get(team_path(w), headers=u.headers),
         OK_TEAM, mutates=False),
    Case("PATCH /teams/{id}",
         lambda c, w, u: c.patch(team_path(w), json={"name": "Renamed"}, headers=u.headers),
         MANAGE_TEAM, mutates=True),
    Case("DELETE /teams/{id}", lambda c, w, u: c.delete(team_path(w), headers=u.headers),
         {**with_success(MANAGE_TEAM, 204), "admin": 403}, mutates=True),
    Case("GET /teams/{id}/members",
         lambda c, w, u: c.get(team_path(w, "/members"), headers=u.headers),
         OK_TEAM, mutates=False),
    Case("POST /teams/{id}/members",
         lambda c, w, u: c.post(team_path(w, "/members"), headers=u.headers,
                                json={"email": w.outsider.email, "role": "member"}),
         {**with_success(MANAGE_TEAM, 201), "outsider": 404}, mutates=True),
    Case("PATCH /teams/{id}/members/{user_id}",
         lambda c, w, u: c.patch(team_path(w, f"/members/{w.spare.id}"), headers=u.headers,
                                 json={"role": "admin"}),
         MANAGE_TEAM, mutates=True),
    Case("DELETE /teams/{id}/members/{user_id}",
         lambda c, w, u: c.delete(team_path(w, f"/members/{w.spare.id}"), headers=u.headers),
         with_success(MANAGE_TEAM, 204), mutates=True),
    Case("POST /projects",
         lambda c, w, u: c.post("/api/v1/projects", headers=u.headers,
                                json={"team_id": w.team["id"], "name": "New"}),
         with_success(MANAGE_TEAM, 201), mutates=True),
    Case("GET /projects?team_id=",
         lambda c, w, u: c.get("/api/v1/projects", params={"team_id": w.team["id"]},
                               headers=u.headers),
         OK_TEAM, mutates=False),
    Case("GET /projects/{id}", lambda c, w, u: c.get(project_path(w), headers=u.headers),
         OK_PROJECT, mutates=False),
    Case("PATCH /projects/{id}",
         lambda c, w, u: c.patch(project_path(w), json={"name": "Renamed"}, headers=u.headers),
         ADMIN_PROJECT, mutates=True),
    Case("DELETE /projects/{id}", lambda c, w, u: c.delete(project_path(w), headers=u.headers),
         with_success(ADMIN_PROJECT, 204), mutates=True),
    Case("GET /projects/{id}/members",
         lambda c, w, u: c.get(project_path(w, "/members"), headers=u.headers),
         OK_PROJECT, mutates=False),
    Case("POST /projects/{id}/members",
         lambda c, w, u: c.post(project_path(w, "/members"), headers=u.headers,
                                json={"user_id": str(w.spare.id), "role": "viewer"}),
         with_success(ADMIN_PROJECT, 201), mutates=True),
    Case("PATCH /projects/{id}/members/{user_id}",
         lambda c, w, u: c.patch(project_path(w, f"/members/{w.spare_viewer.id}"),
                                 headers=u.headers, json={"role": "editor"}),
         ADMIN_PROJECT, mutates=True),
    Case("DELETE /projects/{id}/members/{user_id}",
         lambda c, w, u: c.delete(project_path(w, f"/members/{w.spare_viewer.id}"),
                                  headers=u.headers),
         with_success(ADMIN_PROJECT, 204), mutates=True),
]

MATRIX = [pytest.param(case, role, id=f"{case.name} as {role}")
          for case in CASES for role in ROLES]


@pytest.fixture(scope="module")
async def shared_world(make_world) -> World:
    """For read-only cases: one world is enough."""
    return await make_world()


async def test_matrix_covers_every_route(client):
    schema = (await client.get("/docs/workspace/openapi.json")).json()
    routes = {f"{method.upper()} {path}" for path, item in schema["paths"].items()
              if path.startswith("/api/") for method in item}
    covered = {"{} /api/v1{}".format(*case.name.split("?")[0].split(" ", 1)) for case in CASES}
    assert routes == covered


@pytest.mark.parametrize(("case", "role"), MATRIX)
async def test_permission_matrix(client, make_world, shared_world, case: Case, role: str):
    world = await make_world() if case.mutates else shared_world
    response = await case.call(client, world, world.caller(role))
    expected = case.expected[role]
    if expected >= 400:
        assert_problem(response, expected)
    else:
        assert response.status_code == expected, response.text


async def test_a_plain_member_lists_no_projects_of_the_team(client, shared_world):
    w = shared_world
    for role, visible in [("member", 0), ("p_viewer", 1), ("owner", 1), ("admin", 1)]:
        response = await client.get("/api/v1/projects", params={"team_id": w.team["id"]},
                                    headers=w.caller(role).headers)
        assert len(response.json()["items"]) == visible, role


@pytest.mark.parametrize("role", ["member", "p_admin", "p_editor", "p_viewer", "admin"])
async def test_every_member_but_the_owner_may_leave_the_team(client, make_world, role):
    w = await make_world()
    me = w.caller(role)
    response = await client.delete(team_path(w, f"/members/{me.id}"), headers=me.headers)
    assert response.status_code == 204, response.text
    assert_problem(await client.get(team_path(w), headers=me.headers), 404)


async def test_the_owner_can_be_removed_by_no_one(client, shared_world):
    w = shared_world
    for role in ["owner", "admin"]:
        assert_problem(await client.delete(team_path(w, f"/members/{w.owner.id}"),
                                           headers=w.caller(role).headers), 409)
    assert_problem(await client.delete(team_path(w, f"/members/{w.owner.id}"),
                                       headers=w.member.headers), 403)


@pytest.mark.parametrize(("role", "expected"), [
    ("p_admin", 204), ("p_editor", 204), ("p_viewer", 204), ("owner", 409), ("admin", 409)])
async def test_leaving_a_project(client, make_world, role, expected):
    """Explicit members may leave; implicit admins cannot (their role is the team's)."""
    w = await make_world()
    me = w.caller(role)
    response = await client.delete(project_path(w, f"/members/{me.id}"), headers=me.headers)
    if expected == 204:
        assert response.status_code == 204, response.text
        assert_problem(await client.get(project_path(w), headers=me.headers), 404)
    else:
        assert_problem(response, expected)


async def test_an_editor_or_viewer_cannot_change_their_own_role(client, shared_world):
    w = shared_world
    for role in ["p_editor", "p_viewer"]:
        me = w.caller(role)
        assert_problem(await client.patch(project_path(w, f"/members/{me.id}"),
                                          json={"role": "admin"}, headers=me.headers), 403)


async def test_admin_cannot_grant_owner_and_member_cannot_promote_self(client, make_world):
    w = await make_world()
    assert_problem(await client.patch(team_path(w, f"/members/{w.spare.id}"),
                                      json={"role": "owner"}, headers=w.admin.headers), 403)
    assert_problem(await client.patch(team_path(w, f"/members/{w.admin.id}"),
                                      json={"role": "owner"}, headers=w.admin.headers), 403)
    assert_problem(await client.patch(team_path(w, f"/members/{w.member.id}"),
                                      json={"role": "admin"}, headers=w.member.headers), 403)


# --- 401 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_tokens(signing_key, make_user) -> dict[str, dict[str, str]]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    user = make_user("tokens")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = sign_token(signing_key, user.id)
    return {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {good}"},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "expired": {"Authorization": "Bearer " + sign_token(signing_key, user.id,
                                                            exp=1_000_000, iat=999_000)},
        "refresh token": {"Authorization": "Bearer " + sign_token(signing_key, user.id,
                                                                  typ="refresh")},
        "tampered": {"Authorization": "Bearer " + good[:-4] + ("AAAA" if not good.endswith(
            "AAAA") else "BBBB")},
        "foreign key": {"Authorization": "Bearer " + sign_token(other_key, user.id)},
        "wrong audience": {"Authorization": "Bearer " + sign_token(signing_key, user.id,
                                                                   aud="elsewhere")},
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_every_route_requires_a_valid_access_token(client, shared_world, bad_tokens,
                                                         case: Case):
    for kind, headers in bad_tokens.items():
        response = await case.call(client, shared_world, BadCaller(headers))
        assert_problem(response, 401)
        assert response.headers.get("www-authenticate") == "Bearer", kind
