"""The full isolation matrix: users in every role of team A call every endpoint of every
service against team B's resources.

* A reference to B's data, in the path, in a query filter or in a body -> 404 problem+json
  (never 403, never 2xx), and 401 without a token.
* Where the spec gives a different answer for "not there" (a neighbour id in a move, an
  assignee), the answer for B's id must be exactly the answer for a random id: no existence
  oracle.
* No response (body or headers) ever contains an id, name, text or e-mail of B's data.
* Afterwards B's data is exactly as it was, and B's notification is still unread.

Identity has no endpoint that names another user's or team's resource (only /users/me): it
is covered by the "open" calls (the caller's own data, which must not leak B's)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from devstack.testing import User

from tests.e2e import security_support as sec

ROLES = ["team_owner", "team_admin", "team_member", "project_admin", "project_editor",
         "project_viewer"]
# Roles that can edit A's boards/lists/tasks (owner and admins are implicit project admins).
EDITORS = {"team_owner", "team_admin", "project_admin", "project_editor"}


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: Any = None
    # 404: must be 404 problem+json. "same": must equal the answer for ``control`` (a random
    # id in place of B's) and not be 2xx. "open": the caller's own data; any status < 500
    # except 403 (e.g. 200/204/422), checked for leaks only.
    expect: int | str = 404
    control: tuple[str, Any] | None = None
    exact_for_editors: int | None = None   # with "same": the status editors must get


@pytest.fixture(scope="module")
def api(stack) -> Iterator[httpx.Client]:  # module-scoped (the conftest's is per test)
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def world(api: httpx.Client) -> dict:
    # --- team B: the victims ---------------------------------------------------------------
    owner_b = sec.make_user(api, "bravo-owner")
    member_b = sec.make_user(api, "bravo-member")
    b = sec.seed_world(api, owner_b, "bravo")
    sec.ok(api.post(f"/api/v1/teams/{b.team['id']}/members",
                    json={"email": member_b.email, "role": "member"},
                    headers=owner_b.headers), 201)
    sec.ok(api.post(f"/api/v1/projects/{b.project['id']}/members",
                    json={"user_id": member_b.id, "role": "editor"},
                    headers=owner_b.headers), 201)
    # The assignee's project role reaches boards through events: retry until it has.
    sec.until(lambda: api.patch(f"/api/v1/tasks/{b.task['id']}",
                                json={"assignee_id": member_b.id},
                                headers=owner_b.headers).status_code == 200)
    b_comment2 = sec.ok(api.post("/api/v1/comments",
                                 json={"task_id": b.task["id"], "body": sec.unique("bravo-c2")},
                                 headers=member_b.headers), 201)
    # member_b is told of: the team, the project, the assignment (3); wait for all, so
    # the snapshot below does not race the notifier.
    notes = sec.until(lambda: (items := api.get("/api/v1/notifications",
                                                headers=member_b.headers).json()["items"])
                      and len(items) >= 3 and items, timeout=30)
    # --- team A: one user per role -----------------------------------------------------------
    users = {role: sec.make_user(api, f"alpha-{role}") for role in ROLES}
    owner_a = users["team_owner"]
    a = sec.seed_world(api, owner_a, "alpha")
    team_roles = {"team_admin": "admin", "team_member": "member", "project_admin": "member",
                  "project_editor": "member", "project_viewer": "member"}
    for role, team_role in team_roles.items():
        sec.ok(api.post(f"/api/v1/teams/{a.team['id']}/members",
                        json={"email": users[role].email, "role": team_role},
                        headers=owner_a.headers), 201)
    for role, project_role in (("project_admin", "admin"), ("project_editor", "editor"),
                               ("project_viewer", "viewer")):
        sec.ok(api.post(f"/api/v1/projects/{a.project['id']}/members",
                        json={"user_id": users[role].id, "role": project_role},
                        headers=owner_a.headers), 201)
    # Controls: every A user sees exactly what its role allows on A's own data, so a 404 on
    # B's data below is isolation, not a broken setup.
    for role, user in users.items():
        expected = 404 if role == "team_member" else 200
        sec.until(functools.partial(_answers, api, f"/api/v1/tasks/{a.task['id']}", user,
                                    expected))
    b_state = _snapshot(api, owner_b, member_b, b)
    secrets = {
        "team_b id": b.team["id"], "team_b name": b.team["name"],
        "project_b id": b.project["id"], "project_b name": b.project["name"],
        "project_b description": b.project["description"],
        "board_b id": b.board["id"], "board_b name": b.board["name"],
        "list_b id": b.lists[0]["id"], "list_b name": b.lists[0]["name"],
        "list_b2 id": b.lists[1]["id"], "list_b2 name": b.lists[1]["name"],
        "task_b id": b.task["id"], "task_b title": b.task["title"],
        "task_b description": b.task["description"], "task_b label": b.task["labels"][0],
        "comment_b id": b.comment["id"], "comment_b body": b.comment["body"],
        "comment_b2 id": b_comment2["id"], "comment_b2 body": b_comment2["body"],
        "notification_b id": notes[0]["id"],
        "owner_b id": owner_b.id, "owner_b email": owner_b.email,
        "owner_b name": owner_b.full_name,
        "member_b id": member_b.id, "member_b email": member_b.email,
        "member_b name": member_b.full_name,
    }
    return {"a": a, "b": b, "users": users, "owner_b": owner_b, "member_b": member_b,
            "notification_b": notes[0], "b_state": b_state, "secrets": secrets}


def _answers(api: httpx.Client, path: str, user: User, status: int) -> bool:
    return api.get(path, headers=user.headers).status_code == status


def _snapshot(api: httpx.Client, owner_b: User, member_b: User, b: sec.World) -> dict:
    h = owner_b.headers
    return {
        "team": sec.ok(api.get(f"/api/v1/teams/{b.team['id']}", headers=h)),
        "team members": sec.ok(api.get(f"/api/v1/teams/{b.team['id']}/members", headers=h)),
        "project": sec.ok(api.get(f"/api/v1/projects/{b.project['id']}", headers=h)),
        "project members": sec.ok(api.get(f"/api/v1/projects/{b.project['id']}/members",
                                          headers=h)),
        "board": sec.ok(api.get(f"/api/v1/boards/{b.board['id']}", headers=h)),
        "comments": sec.ok(api.get(f"/api/v1/comments?task_id={b.task['id']}", headers=h)),
        "notifications": sec.ok(api.get("/api/v1/notifications", headers=member_b.headers)),
    }


def _cases(world: dict, caller: User) -> list[Case]:
    a, b = world["a"], world["b"]
    pa, ba, la, la2, tka = (a.project["id"], a.board["id"], a.lists[0]["id"],
                            a.lists[1]["id"], a.task["id"])
    tb, pb, bb, lb, lb2, tkb, cb = (b.team["id"], b.project["id"], b.board["id"],
                                    b.lists[0]["id"], b.lists[1]["id"], b.task["id"],
                                    b.comment["id"])
    member_b, owner_b = world["member_b"].id, world["owner_b"].id
    nb = world["notification_b"]["id"]
    rnd = str(uuid.uuid4())
    name = {"name": "pwned"}
    reads = [
        # identity: only the caller's own data exists here
        Case("GET own profile", "GET", "/api/v1/users/me", expect="open"),
        # workspace
        Case("GET B's team", "GET", f"/api/v1/teams/{tb}"),
        Case("GET B's team members", "GET", f"/api/v1/teams/{tb}/members"),
        Case("GET projects filtered by B's team", "GET", f"/api/v1/projects?team_id={tb}"),
        Case("GET B's project", "GET", f"/api/v1/projects/{pb}"),
        Case("GET B's project members", "GET", f"/api/v1/projects/{pb}/members"),
        Case("GET my teams", "GET", "/api/v1/teams", expect="open"),
        Case("GET my projects", "GET", "/api/v1/projects", expect="open"),
        # boards
        Case("GET boards filtered by B's project", "GET", f"/api/v1/boards?project_id={pb}"),
        Case("GET B's board", "GET", f"/api/v1/boards/{bb}"),
        Case("GET lists filtered by B's board", "GET", f"/api/v1/lists?board_id={bb}"),
        Case("GET tasks filtered by B's board", "GET", f"/api/v1/tasks?board_id={bb}"),
        Case("GET tasks filtered by B's list", "GET", f"/api/v1/tasks?list_id={lb}"),
        Case("GET tasks filtered by B's board and list", "GET",
             f"/api/v1/tasks?board_id={bb}&list_id={lb}"),
        Case("GET tasks filtered by B's assignee", "GET",
             f"/api/v1/tasks?assignee_id={member_b}", expect="open"),
        Case("GET tasks searching B's title", "GET",
             f"/api/v1/tasks?q={b.task['title']}", expect="open"),
        Case("GET tasks of A's board with B's assignee", "GET",
             f"/api/v1/tasks?board_id={ba}&assignee_id={member_b}", expect="open"),
        Case("GET B's task", "GET", f"/api/v1/tasks/{tkb}"),
        Case("GET comments filtered by B's task", "GET", f"/api/v1/comments?task_id={tkb}"),
        Case("GET activity filtered by B's project", "GET",
             f"/api/v1/activity?project_id={pb}"),
        # notifier
        Case("GET my notifications", "GET", "/api/v1/notifications", expect="open"),
        Case("GET my unread notifications", "GET", "/api/v1/notifications?unread=true",
             expect="open"),
        Case("GET my unread count", "GET", "/api/v1/notifications/unread-count",
             expect="open"),
        Case("GET my preferences", "GET", "/api/v1/notifications/preferences", expect="open"),
    ]
    writes = [
        # workspace
        Case("PATCH B's team", "PATCH", f"/api/v1/teams/{tb}", name),
        Case("add myself to B's team", "POST", f"/api/v1/teams/{tb}/members",
             {"email": caller.email, "role": "admin"}),
        Case("change a role in B's team", "PATCH", f"/api/v1/teams/{tb}/members/{member_b}",
             {"role": "admin"}),
        Case("grant myself a role in B's team", "PATCH",
             f"/api/v1/teams/{tb}/members/{caller.id}", {"role": "admin"}),
        Case("take B's team ownership", "PATCH", f"/api/v1/teams/{tb}/members/{owner_b}",
             {"role": "member"}),
        Case("create a project in B's team", "POST", "/api/v1/projects",
             {"team_id": tb, "name": "pwned"}),
        Case("PATCH B's project", "PATCH", f"/api/v1/projects/{pb}", name),
        Case("add myself to B's project", "POST", f"/api/v1/projects/{pb}/members",
             {"user_id": caller.id, "role": "admin"}),
        Case("change a role in B's project", "PATCH",
             f"/api/v1/projects/{pb}/members/{member_b}", {"role": "viewer"}),
        Case("add B's user to A's project", "POST", f"/api/v1/projects/{pa}/members",
             {"user_id": member_b, "role": "viewer"}, expect="same",
             control=(f"/api/v1/projects/{pa}/members", {"user_id": rnd, "role": "viewer"})),
        # boards
        Case("create a board in B's project", "POST", "/api/v1/boards",
             {"project_id": pb, "name": "pwned"}),
        Case("PATCH B's board", "PATCH", f"/api/v1/boards/{bb}", name),
        Case("create a list on B's board", "POST", "/api/v1/lists",
             {"board_id": bb, "name": "pwned"}),
        Case("PATCH B's list", "PATCH", f"/api/v1/lists/{lb}", name),
        Case("move B's list", "POST", f"/api/v1/lists/{lb}/move", {"before_id": lb2}),
        Case("move B's list next to A's", "POST", f"/api/v1/lists/{lb}/move",
             {"after_id": la}),
        Case("move A's list before B's", "POST", f"/api/v1/lists/{la}/move",
             {"before_id": lb}, expect="same",
             control=(f"/api/v1/lists/{la}/move", {"before_id": rnd})),
        Case("create a task in B's list", "POST", "/api/v1/tasks",
             {"list_id": lb, "title": "pwned"}),
        Case("create a task in A's list assigned to B's user", "POST", "/api/v1/tasks",
             {"list_id": la, "title": "pwned", "assignee_id": member_b}, expect="same",
             control=("/api/v1/tasks", {"list_id": la, "title": "pwned", "assignee_id": rnd}),
             exact_for_editors=422),
        Case("PATCH B's task", "PATCH", f"/api/v1/tasks/{tkb}", {"title": "pwned"}),
        Case("assign B's task to me", "PATCH", f"/api/v1/tasks/{tkb}",
             {"assignee_id": caller.id}),
        Case("assign A's task to B's user", "PATCH", f"/api/v1/tasks/{tka}",
             {"assignee_id": member_b}, expect="same",
             control=(f"/api/v1/tasks/{tka}", {"assignee_id": rnd}), exact_for_editors=422),
        Case("move B's task within B's board", "POST", f"/api/v1/tasks/{tkb}/move",
             {"list_id": lb2}),
        Case("move B's task into A's list", "POST", f"/api/v1/tasks/{tkb}/move",
             {"list_id": la}),
        Case("move A's task into B's list", "POST", f"/api/v1/tasks/{tka}/move",
             {"list_id": lb}, expect="same",
             control=(f"/api/v1/tasks/{tka}/move", {"list_id": rnd}), exact_for_editors=404),
        Case("move A's task before B's task", "POST", f"/api/v1/tasks/{tka}/move",
             {"list_id": la2, "before_id": tkb}, expect="same",
             control=(f"/api/v1/tasks/{tka}/move", {"list_id": la2, "before_id": rnd})),
        Case("comment on B's task", "POST", "/api/v1/comments",
             {"task_id": tkb, "body": "pwned"}),
        Case("PATCH B's comment", "PATCH", f"/api/v1/comments/{cb}", {"body": "pwned"}),
        # notifier
        Case("read B's notification", "POST", f"/api/v1/notifications/{nb}/read"),
        Case("read all my notifications", "POST", "/api/v1/notifications/read-all",
             expect="open"),
        Case("PUT my preferences", "PUT", "/api/v1/notifications/preferences",
             {"email": {"comment": False}}, expect="open"),
    ]
    deletes = [
        Case("DELETE B's comment", "DELETE", f"/api/v1/comments/{cb}"),
        Case("DELETE B's task", "DELETE", f"/api/v1/tasks/{tkb}"),
        Case("DELETE B's list", "DELETE", f"/api/v1/lists/{lb}"),
        Case("DELETE B's board", "DELETE", f"/api/v1/boards/{bb}"),
        Case("remove B's member from B's project", "DELETE",
             f"/api/v1/projects/{pb}/members/{member_b}"),
        Case("leave B's project", "DELETE", f"/api/v1/projects/{pb}/members/{caller.id}"),
        Case("DELETE B's project", "DELETE", f"/api/v1/projects/{pb}"),
        Case("remove B's member from B's team", "DELETE",
             f"/api/v1/teams/{tb}/members/{member_b}"),
        Case("remove B's owner from B's team", "DELETE",
             f"/api/v1/teams/{tb}/members/{owner_b}"),
        Case("leave B's team", "DELETE", f"/api/v1/teams/{tb}/members/{caller.id}"),
        Case("DELETE B's team", "DELETE", f"/api/v1/teams/{tb}"),
    ]
    return reads + writes + deletes


def _send(api: httpx.Client, method: str, path: str, body: Any, headers: dict) -> httpx.Response:
    return api.request(method, path, json=body, headers=headers)


def _leak_report(response: httpx.Response, secrets: dict[str, str]) -> list[str]:
    text = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return sec.leaks(text, secrets)


@pytest.mark.parametrize("role", ROLES)
def test_team_a_user_cannot_reach_team_b(api, world, role):
    caller = world["users"][role]
    secrets = world["secrets"]
    failures = []
    for case in _cases(world, caller):
        response = _send(api, case.method, case.path, case.body, caller.headers)
        label = f"{case.name} ({case.method} {case.path}) -> {response.status_code}"
        if leaked := _leak_report(response, secrets):
            failures.append(f"{label}: response contains B's {leaked}: {response.text[:300]}")
        if response.status_code >= 500:
            failures.append(f"{label}: server error {response.text[:300]}")
            continue
        if case.expect == 404:
            if response.status_code != 404:
                failures.append(f"{label}: expected 404, body {response.text[:300]}")
            elif (why := sec.is_problem(response)) is not None:
                failures.append(f"{label}: 404 not problem+json ({why})")
        elif case.expect == "same":
            assert case.control is not None
            control = _send(api, case.method, case.control[0], case.control[1],
                            caller.headers)
            if response.is_success:
                failures.append(f"{label}: accepted a reference to B's data")
            elif (response.status_code, response.json().get("detail")) != \
                    (control.status_code, control.json().get("detail")):
                failures.append(f"{label}: answer differs from a random id's "
                                f"({control.status_code} {control.text[:200]}): existence "
                                f"oracle; got {response.text[:200]}")
            elif case.exact_for_editors and role in EDITORS and \
                    response.status_code != case.exact_for_editors:
                failures.append(f"{label}: expected {case.exact_for_editors} for an editor")
        elif case.expect == "open" and response.status_code == 403:
            failures.append(f"{label}: 403 on the caller's own data")
    assert not failures, f"{role}: {len(failures)} isolation failures:\n  " + \
        "\n  ".join(failures)


def test_every_call_without_a_token_is_401(api, world):
    failures = []
    someone = world["users"]["team_owner"]
    for case in _cases(world, someone):
        response = _send(api, case.method, case.path, case.body, {})
        if response.status_code != 401 or sec.is_problem(response) is not None:
            failures.append(f"{case.name}: {response.status_code} {response.text[:200]}")
        if leaked := _leak_report(response, world["secrets"]):
            failures.append(f"{case.name}: leaks {leaked}")
    assert not failures, "\n  ".join(failures)


def test_team_b_data_is_untouched_afterwards(api, world):
    """Runs after the matrix: nothing A did changed B (including the notification read
    state: A's read-all must not mark B's notification read)."""
    after = _snapshot(api, world["owner_b"], world["member_b"], world["b"])
    for key, before in world["b_state"].items():
        assert after[key] == before, f"B's {key} changed"
    note = next(n for n in after["notifications"]["items"]
                if n["id"] == world["notification_b"]["id"])
    assert note["read"] is False
