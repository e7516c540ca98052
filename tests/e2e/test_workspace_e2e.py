"""Workspace through the gateway, against the running stack: a user registered a moment ago
can be added by e-mail (directory read-through or the user.registered event), a new project
is usable at once, and losing a team membership removes project access."""

from __future__ import annotations

import time

import httpx
from devstack.testing import assert_problem

TEAMS = "/api/v1/teams"
PROJECTS = "/api/v1/projects"


def test_team_and_project_lifecycle(api: httpx.Client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    team = api.post(TEAMS, json={"name": "E2E team"}, headers=alice.headers)
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    assert team.json()["my_role"] == "owner"

    # Bob registered a moment ago: no visible lag when adding him by e-mail.
    added = api.post(f"{TEAMS}/{team_id}/members", json={"email": bob.email.upper(),
                                                         "role": "member"},
                     headers=alice.headers)
    assert added.status_code == 201, added.text
    assert added.json()["user_id"] == bob.id and added.json()["full_name"] == bob.full_name
    assert_problem(api.post(f"{TEAMS}/{team_id}/members",
                            json={"email": bob.email, "role": "member"},
                            headers=alice.headers), 409)

    project = api.post(PROJECTS, json={"team_id": team_id, "name": "Launch"},
                       headers=alice.headers)
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    assert api.get(f"{PROJECTS}/{project_id}", headers=alice.headers).status_code == 200
    # A plain team member without a project role does not see the project.
    assert_problem(api.get(f"{PROJECTS}/{project_id}", headers=bob.headers), 404)

    editor = api.post(f"{PROJECTS}/{project_id}/members",
                      json={"user_id": bob.id, "role": "editor"}, headers=alice.headers)
    assert editor.status_code == 201, editor.text
    got = api.get(f"{PROJECTS}/{project_id}", headers=bob.headers)
    assert got.status_code == 200 and got.json()["my_role"] == "editor"
    members = api.get(f"{PROJECTS}/{project_id}/members", headers=bob.headers).json()["items"]
    assert {(m["user_id"], m["role"], m["implicit"]) for m in members} == {
        (alice.id, "admin", True), (bob.id, "editor", False)}

    # Leaving the team drops the project role at once.
    left = api.delete(f"{TEAMS}/{team_id}/members/{bob.id}", headers=bob.headers)
    assert left.status_code == 204
    assert_problem(api.get(f"{PROJECTS}/{project_id}", headers=bob.headers), 404)
    assert_problem(api.delete(f"{TEAMS}/{team_id}/members/{alice.id}",
                              headers=alice.headers), 409)


def test_user_directory_is_fed_by_identity_events(api: httpx.Client, make_user):
    """A profile change reaches the workspace's member list through user.updated."""
    alice, bob = make_user("alice"), make_user("bob")
    team_id = api.post(TEAMS, json={"name": "Names"}, headers=alice.headers).json()["id"]
    api.post(f"{TEAMS}/{team_id}/members", json={"email": bob.email, "role": "admin"},
             headers=alice.headers).raise_for_status()
    renamed = api.patch("/api/v1/users/me", json={"full_name": "Robert Renamed"},
                        headers=bob.headers)
    assert renamed.status_code == 200, renamed.text
    deadline = time.monotonic() + 10
    while True:
        members = api.get(f"{TEAMS}/{team_id}/members", headers=alice.headers).json()["items"]
        names = {m["user_id"]: m["full_name"] for m in members}
        if names.get(bob.id) == "Robert Renamed":
            break
        assert time.monotonic() < deadline, names
        time.sleep(0.1)


def test_workspace_routes_require_a_token_at_the_gateway(api: httpx.Client):
    for method, path in [("GET", TEAMS), ("POST", PROJECTS), ("GET", f"{PROJECTS}?team_id=x")]:
        assert_problem(api.request(method, path), 401)


def test_a_trailing_slash_redirects_back_through_the_gateway(api: httpx.Client, make_user,
                                                             gateway_url: str):
    """FastAPI answers /teams/ with a redirect to /teams; it must name the gateway's own
    address (port included), so a client that follows it lands on the same API."""
    alice = make_user("alice")
    redirect = api.get(f"{TEAMS}/?limit=5", headers=alice.headers)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == f"{gateway_url}{TEAMS}?limit=5"
    followed = api.get(redirect.headers["location"], headers=alice.headers)
    assert followed.status_code == 200 and followed.json()["items"] == []
