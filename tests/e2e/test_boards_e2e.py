"""Boards through the gateway against the running stack (identity, workspace, boards and
their relays/consumers): read-through for brand-new projects, revocation within a second,
unassignment on removal, and the project deletion cascade."""

from __future__ import annotations

import time

import httpx
from devstack.testing import assert_problem, ok, project_with_member


def _until(predicate, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition not met in time"
        time.sleep(0.01)
    return time.monotonic() - started


def test_new_project_board_lists_tasks_and_moves(api: httpx.Client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    project = project_with_member(api, alice, bob, "editor")
    # At once, before boards has necessarily seen project.created: read-through.
    board = ok(api.post("/api/v1/boards", json={"project_id": project["id"], "name": "Sprint"},
                         headers=alice.headers), 201)
    todo = ok(api.post("/api/v1/lists", json={"board_id": board["id"], "name": "To do"},
                        headers=alice.headers), 201)
    done = ok(api.post("/api/v1/lists", json={"board_id": board["id"], "name": "Done",
                                               "wip_limit": 1}, headers=bob.headers), 201)
    # The assignee's role comes from the read model: it follows the events within ms.
    created: dict = {}

    def assigned() -> bool:
        response = api.post("/api/v1/tasks", json={"list_id": todo["id"], "title": "Fix login",
                                                   "assignee_id": bob.id},
                            headers=alice.headers)
        if response.status_code == 201:
            created.update(response.json())
        return response.status_code == 201

    _until(assigned)
    task = created
    assert task["version"] == 1 and task["priority"] == "medium"
    moved = api.post(f"/api/v1/tasks/{task['id']}/move", json={"list_id": done["id"]},
                     headers={**bob.headers, "If-Match": '"1"'})
    assert moved.status_code == 200 and moved.headers["etag"] == '"2"'
    second = ok(api.post("/api/v1/tasks", json={"list_id": todo["id"], "title": "Next"},
                          headers=bob.headers), 201)
    assert_problem(api.post(f"/api/v1/tasks/{second['id']}/move",
                            json={"list_id": done["id"]}, headers=bob.headers), 409)
    assert_problem(api.patch(f"/api/v1/tasks/{task['id']}", json={"title": "x"},
                             headers={**alice.headers, "If-Match": '"1"'}), 412)
    detail = ok(api.get(f"/api/v1/boards/{board['id']}", headers=bob.headers))
    assert [[t["title"] for t in lst["tasks"]] for lst in detail["lists"]] == \
        [["Next"], ["Fix login"]]
    activity = ok(api.get(f"/api/v1/activity?project_id={project['id']}",
                           headers=alice.headers))["items"]
    assert any(e["verb"] == "task.moved" and e["summary"] ==
               "bob moved \u201cFix login\u201d from To do to Done" for e in activity)
    # Outsiders see nothing.
    carol = make_user("carol")
    assert_problem(api.get(f"/api/v1/boards/{board['id']}", headers=carol.headers), 404)
    assert_problem(api.post("/api/v1/tasks", json={"list_id": todo["id"], "title": "x"},
                            headers=carol.headers), 404)


def test_removed_member_loses_access_within_a_second_and_is_unassigned(api: httpx.Client,
                                                                        make_user):
    alice, bob = make_user("alice"), make_user("bob")
    project = project_with_member(api, alice, bob, "editor")
    board = ok(api.post("/api/v1/boards", json={"project_id": project["id"], "name": "B"},
                         headers=alice.headers), 201)
    todo = ok(api.post("/api/v1/lists", json={"board_id": board["id"], "name": "To do"},
                        headers=alice.headers), 201)
    _until(lambda: api.post("/api/v1/tasks", json={"list_id": todo["id"], "title": "Bob's",
                                                   "assignee_id": bob.id},
                            headers=alice.headers).status_code == 201)
    assert api.get(f"/api/v1/boards/{board['id']}", headers=bob.headers).status_code == 200
    removed = api.delete(f"/api/v1/projects/{project['id']}/members/{bob.id}",
                         headers=alice.headers)
    assert removed.status_code == 204, removed.text
    elapsed = _until(lambda: api.get(f"/api/v1/boards/{board['id']}",
                                     headers=bob.headers).status_code == 404, timeout=1.0)
    assert elapsed < 1.0

    def unassigned() -> bool:
        tasks = ok(api.get(f"/api/v1/tasks?board_id={board['id']}", headers=alice.headers))
        return all(t["assignee_id"] is None for t in tasks["items"])

    _until(unassigned)


def test_deleting_the_project_deletes_its_boards(api: httpx.Client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    project = project_with_member(api, alice, bob, "viewer")
    board = ok(api.post("/api/v1/boards", json={"project_id": project["id"], "name": "B"},
                         headers=alice.headers), 201)
    assert_problem(api.post("/api/v1/boards", json={"project_id": project["id"], "name": "x"},
                            headers=bob.headers), 403)
    assert api.delete(f"/api/v1/projects/{project['id']}",
                      headers=alice.headers).status_code == 204
    _until(lambda: api.get(f"/api/v1/boards/{board['id']}",
                           headers=alice.headers).status_code == 404)
