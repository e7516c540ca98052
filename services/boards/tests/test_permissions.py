"""Every endpoint x every role: project admin, editor, viewer, and an outsider (no role in
the project, unknown to the read model and to workspace). Roles are set up by feeding
workspace events through the real consumer. Plus 401 without a valid token everywhere."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from services.boards.tests.boards_helpers import Scenario, User, World, assert_problem

ROLES = ("admin", "editor", "viewer", "outsider")
Call = Callable[[World, Scenario, User], Awaitable[httpx.Response]]


async def _fresh_board(w: World, s: Scenario) -> dict:
    return await w.board(s.users["admin"], s.project, "Scratch")


async def _fresh_list(w: World, s: Scenario) -> dict:
    return await w.list(s.users["admin"], s.board, "Scratch")


async def _fresh_task(w: World, s: Scenario) -> dict:
    return await w.task(s.users["admin"], s.list, "Scratch")


async def _comment_by(w: World, s: Scenario, author: User) -> dict:
    return await w.created(author, "/api/v1/comments", {"task_id": s.task["id"], "body": "Hi"})


async def _own_comment(w: World, s: Scenario, u: User) -> dict:
    # An outsider cannot have a comment here: they try someone else's.
    author = u if u is not s.users["outsider"] else s.users["admin"]
    return await _comment_by(w, s, author)


async def _others_comment(w: World, s: Scenario, u: User) -> dict:
    author = s.users["editor"] if u is s.users["admin"] else s.users["admin"]
    return await _comment_by(w, s, author)


def _c(w: World) -> httpx.AsyncClient:
    return w.client


async def post_board(w, s, u):
    return await _c(w).post("/api/v1/boards", json={"project_id": str(s.project.id),
                                                    "name": "B"}, headers=u.headers)


async def list_boards(w, s, u):
    return await _c(w).get(f"/api/v1/boards?project_id={s.project.id}", headers=u.headers)


async def get_board(w, s, u):
    return await _c(w).get(f"/api/v1/boards/{s.board['id']}", headers=u.headers)


async def patch_board(w, s, u):
    return await _c(w).patch(f"/api/v1/boards/{s.board['id']}", json={"name": f"B {u.name}"},
                             headers=u.headers)


async def delete_board(w, s, u):
    board = await _fresh_board(w, s)
    return await _c(w).delete(f"/api/v1/boards/{board['id']}", headers=u.headers)


async def post_list(w, s, u):
    return await _c(w).post("/api/v1/lists", json={"board_id": s.board["id"], "name": "L"},
                            headers=u.headers)


async def list_lists(w, s, u):
    return await _c(w).get(f"/api/v1/lists?board_id={s.board['id']}", headers=u.headers)


async def patch_list(w, s, u):
    return await _c(w).patch(f"/api/v1/lists/{s.list['id']}", json={"wip_limit": 50},
                             headers=u.headers)


async def move_list(w, s, u):
    other = await _fresh_list(w, s)
    return await _c(w).post(f"/api/v1/lists/{other['id']}/move",
                            json={"before_id": s.list["id"]}, headers=u.headers)


async def delete_list(w, s, u):
    target = await _fresh_list(w, s)
    return await _c(w).delete(f"/api/v1/lists/{target['id']}", headers=u.headers)


async def post_task(w, s, u):
    return await _c(w).post("/api/v1/tasks", json={"list_id": s.list["id"], "title": "T"},
                            headers=u.headers)


async def list_tasks(w, s, u):
    return await _c(w).get(f"/api/v1/tasks?board_id={s.board['id']}", headers=u.headers)


async def get_task(w, s, u):
    return await _c(w).get(f"/api/v1/tasks/{s.task['id']}", headers=u.headers)


async def patch_task(w, s, u):
    return await _c(w).patch(f"/api/v1/tasks/{s.task['id']}", json={"priority": "high"},
                             headers=u.headers)


async def move_task(w, s, u):
    return await _c(w).post(f"/api/v1/tasks/{s.task['id']}/move",
                            json={"list_id": s.list["id"]}, headers=u.headers)


async def delete_task(w, s, u):
    task = await _fresh_task(w, s)
    return await _c(w).delete(f"/api/v1/tasks/{task['id']}", headers=u.headers)


async def post_comment(w, s, u):
    return await _c(w).post("/api/v1/comments", json={"task_id": s.task["id"], "body": "Hi"},
                            headers=u.headers)


async def list_comments(w, s, u):
    return await _c(w).get(f"/api/v1/comments?task_id={s.task['id']}", headers=u.headers)


async def patch_own_comment(w, s, u):
    comment = await _own_comment(w, s, u)
    return await _c(w).patch(f"/api/v1/comments/{comment['id']}", json={"body": "Edited"},
                             headers=u.headers)


async def patch_others_comment(w, s, u):
    comment = await _others_comment(w, s, u)
    return await _c(w).patch(f"/api/v1/comments/{comment['id']}", json={"body": "Edited"},
                             headers=u.headers)


async def delete_own_comment(w, s, u):
    comment = await _own_comment(w, s, u)
    return await _c(w).delete(f"/api/v1/comments/{comment['id']}", headers=u.headers)


async def delete_others_comment(w, s, u):
    comment = await _others_comment(w, s, u)
    return await _c(w).delete(f"/api/v1/comments/{comment['id']}", headers=u.headers)


async def get_activity(w, s, u):
    return await _c(w).get(f"/api/v1/activity?project_id={s.project.id}", headers=u.headers)


# endpoint -> expected status for admin, editor, viewer, outsider
MATRIX: dict[Call, tuple[int, int, int, int]] = {
    post_board: (201, 201, 403, 404),
    list_boards: (200, 200, 200, 404),
    get_board: (200, 200, 200, 404),
    patch_board: (200, 200, 403, 404),
    delete_board: (204, 204, 403, 404),
    post_list: (201, 201, 403, 404),
    list_lists: (200, 200, 200, 404),
    patch_list: (200, 200, 403, 404),
    move_list: (200, 200, 403, 404),
    delete_list: (204, 204, 403, 404),
    post_task: (201, 201, 403, 404),
    list_tasks: (200, 200, 200, 404),
    get_task: (200, 200, 200, 404),
    patch_task: (200, 200, 403, 404),
    move_task: (200, 200, 403, 404),
    delete_task: (204, 204, 403, 404),
    post_comment: (201, 201, 201, 404),
    list_comments: (200, 200, 200, 404),
    patch_own_comment: (200, 200, 200, 404),
    patch_others_comment: (403, 403, 403, 404),
    delete_own_comment: (204, 204, 204, 404),
    delete_others_comment: (204, 403, 403, 404),
    get_activity: (200, 200, 200, 404),
}


@pytest.mark.parametrize("call", list(MATRIX), ids=lambda call: call.__name__)
async def test_permission_matrix(world: World, call: Call):
    s = await world.scenario()
    for role, expected in zip(ROLES, MATRIX[call], strict=True):
        response = await call(world, s, s.users[role])
        if expected >= 400:
            assert_problem(response, expected)
        else:
            assert response.status_code == expected, (role, response.text)


@pytest.mark.parametrize("call", list(MATRIX), ids=lambda call: call.__name__)
async def test_every_endpoint_requires_a_valid_access_token(world: World, call: Call,
                                                            tokens):
    s = await world.scenario()
    admin = s.users["admin"]
    tampered = admin.token[:-6] + ("AAAAAA" if not admin.token.endswith("AAAAAA") else "BBBBBB")
    bad_tokens = [
        None,
        "not-a-jwt",
        tokens.access_token(admin.id, exp=1),                  # expired
        tokens.access_token(admin.id, typ="refresh"),          # wrong type
        tokens.access_token(admin.id, aud="someone-else"),     # wrong audience
        tokens.access_token(admin.id, iss="someone-else"),     # wrong issuer
        tampered,
    ]
    for token in bad_tokens:
        # In the outsider's slot, so the helpers set things up as the admin.
        impostor = _HeaderUser(admin, {"Authorization": f"Bearer {token}"} if token else {})
        s.users["outsider"] = impostor
        assert_problem(await call(world, s, impostor), 401)


class _HeaderUser(User):
    def __init__(self, base: User, headers: dict[str, str]) -> None:
        super().__init__(id=base.id, name=base.name, token=base.token)
        self._headers = headers

    @property
    def headers(self) -> dict[str, str]:
        return self._headers


async def test_a_stranger_unknown_everywhere_gets_404_not_403(world: World):
    s = await world.scenario()
    stranger = world.stranger()
    for path in (f"/api/v1/boards/{s.board['id']}", f"/api/v1/tasks/{s.task['id']}",
                 f"/api/v1/activity?project_id={s.project.id}"):
        assert_problem(await world.client.get(path, headers=stranger.headers), 404)


async def test_malformed_ids_in_paths_are_404_and_in_queries_422(world: World):
    s = await world.scenario()
    h = s.users["admin"].headers
    for path in ("/api/v1/boards/nope", "/api/v1/tasks/123", "/api/v1/comments/x-y"):
        assert_problem(await world.client.get(path, headers=h)
                       if "comments" not in path else
                       await world.client.delete(path, headers=h), 404)
    assert_problem(await world.client.patch("/api/v1/lists/zz", json={"name": "x"}, headers=h),
                   404)
    for path in ("/api/v1/boards?project_id=nope", "/api/v1/lists?board_id=1",
                 "/api/v1/comments?task_id=x", "/api/v1/activity?project_id=1",
                 "/api/v1/tasks?board_id=x", "/api/v1/tasks?assignee_id=someone"):
        assert_problem(await world.client.get(path, headers=h), 422)
    # Unknown ids (well formed): 404 everywhere, in paths, filters and bodies.
    unknown = uuid.uuid4()
    assert_problem(await world.client.get(f"/api/v1/boards/{unknown}", headers=h), 404)
    assert_problem(await world.client.get(f"/api/v1/comments?task_id={unknown}", headers=h),
                   404)
    assert_problem(await world.client.post("/api/v1/tasks", json={
        "list_id": str(unknown), "title": "x"}, headers=h), 404)
