"""Problem types and content types through the gateway: every error names a stable
`/problems/<code>` type that the gateway explains on a page, and a JSON route given a body
of another type answers 415 before anything is created."""

from __future__ import annotations

import json

import httpx
from chassis.errors import PROBLEM_TYPES
from devstack.testing import assert_problem, ok, project_with_member

FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_precise_conflict_types_and_their_pages(api: httpx.Client, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    taken = api.post("/api/v1/auth/register", json={
        "email": alice.email.upper(), "password": "long enough pw", "full_name": "Again"})
    body = assert_problem(taken, 409, "email-taken")
    page = api.get(body["type"])
    assert page.status_code == 200 and "E-mail Taken" in page.text
    project = project_with_member(api, alice, bob, "editor")
    again = api.post(f"/api/v1/projects/{project['id']}/members",
                     json={"user_id": bob.id, "role": "viewer"}, headers=alice.headers)
    assert_problem(again, 409, "already-member")
    implicit = api.post(f"/api/v1/projects/{project['id']}/members",
                        json={"user_id": alice.id, "role": "viewer"}, headers=alice.headers)
    assert_problem(implicit, 409, "implicit-admin")
    board = ok(api.post("/api/v1/boards", json={"project_id": project["id"], "name": "B"},
                        headers=alice.headers), 201)
    full = ok(api.post("/api/v1/lists", json={"board_id": board["id"], "name": "Full",
                                              "wip_limit": 1}, headers=alice.headers), 201)
    ok(api.post("/api/v1/tasks", json={"list_id": full["id"], "title": "one"},
                headers=alice.headers), 201)
    assert_problem(api.post("/api/v1/tasks", json={"list_id": full["id"], "title": "two"},
                            headers=alice.headers), 409, "wip-limit-reached")
    # Generic ones from the services and from the gateway itself.
    assert_problem(api.get("/api/v1/tasks/00000000-0000-0000-0000-000000000000",
                           headers=alice.headers), 404, "not-found")
    assert_problem(api.get("/api/v1/boards"), 401, "unauthorized")
    assert_problem(api.get("/nowhere"), 404, "not-found")
    assert_problem(api.post("/api/v1/teams", json={"name": ""}, headers=alice.headers),
                   422, "validation-failed")


def test_every_problem_type_page_is_served(api: httpx.Client) -> None:
    for code, kind in PROBLEM_TYPES.items():
        page = api.get(f"/problems/{code}")
        assert page.status_code == 200, code
        assert page.headers["content-type"].startswith("text/html")
        assert kind.title in page.text
    assert_problem(api.get("/problems/no-such-type"), 404, "not-found")


def test_a_body_that_is_not_json_is_415_on_every_json_route(api: httpx.Client,
                                                             make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    project = project_with_member(api, alice, bob, "editor")
    board = ok(api.post("/api/v1/boards", json={"project_id": project["id"], "name": "B"},
                        headers=alice.headers), 201)
    todo = ok(api.post("/api/v1/lists", json={"board_id": board["id"], "name": "To do"},
                       headers=alice.headers), 201)
    task = ok(api.post("/api/v1/tasks", json={"list_id": todo["id"], "title": "T"},
                       headers=alice.headers), 201)
    team_id = project["team_id"]
    creating = [
        ("/api/v1/teams", {"name": "Form team"}),
        (f"/api/v1/teams/{team_id}/members", {"email": bob.email, "role": "member"}),
        ("/api/v1/projects", {"team_id": team_id, "name": "Form project"}),
        (f"/api/v1/projects/{project['id']}/members", {"user_id": bob.id, "role": "viewer"}),
        ("/api/v1/boards", {"project_id": project["id"], "name": "Form board"}),
        ("/api/v1/lists", {"board_id": board["id"], "name": "Form list"}),
        ("/api/v1/tasks", {"list_id": todo["id"], "title": "Form task"}),
        ("/api/v1/comments", {"task_id": task["id"], "body": "Form comment"}),
    ]
    before = ok(api.get(f"/api/v1/boards/{board['id']}", headers=alice.headers))
    for path, payload in creating:
        for content_type in ("application/x-www-form-urlencoded", "text/plain",
                             "multipart/form-data; boundary=x"):
            response = api.post(path, content=json.dumps(payload),
                                headers={**alice.headers, "content-type": content_type})
            problem = assert_problem(response, 415, "unsupported-media-type")
            assert "application/json" in problem["detail"], path
    # Other writes too; the register and login forms as well.
    assert_problem(api.patch(f"/api/v1/tasks/{task['id']}", content='{"title": "x"}',
                             headers={**alice.headers, **FORM}), 415, "unsupported-media-type")
    assert_problem(api.post("/api/v1/auth/login", content="email=a&password=b", headers=FORM),
                   415, "unsupported-media-type")
    # Nothing was created along the way.
    after = ok(api.get(f"/api/v1/boards/{board['id']}", headers=alice.headers))
    assert after == before
    teams = ok(api.get("/api/v1/teams", headers=alice.headers))["items"]
    assert [t["name"] for t in teams] == ["Project team"]
    comments = ok(api.get(f"/api/v1/comments?task_id={task['id']}", headers=alice.headers))
    assert comments["items"] == []
