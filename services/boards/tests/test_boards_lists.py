"""Boards and lists: creation, reads, ordering, moves, validation, events."""

from __future__ import annotations

import uuid

from contracts.events import parse_event

from services.boards.tests.boards_helpers import World, assert_problem


async def test_board_lifecycle_and_events(world: World):
    alice = await world.user("Alice")
    project = await world.project(alice)
    response = await world.client.post("/api/v1/boards", headers={
        **alice.headers, "X-Request-ID": "req-board-1"},
        json={"project_id": str(project.id), "name": "  Sprint 1 "})
    assert response.status_code == 201, response.text
    board = response.json()
    assert set(board) == {"id", "project_id", "name", "created_at"}
    assert board["name"] == "Sprint 1" and board["created_at"].endswith("Z")
    assert board["project_id"] == str(project.id)

    (created,) = world.events("board.created", board_id=board["id"])
    envelope = parse_event(created)
    assert envelope.producer == "boards" and envelope.actor_id == alice.id
    assert envelope.correlation_id == "req-board-1"
    assert envelope.payload().model_dump(mode="json") == {
        "board_id": board["id"], "project_id": str(project.id), "name": "Sprint 1"}

    renamed = await world.client.patch(f"/api/v1/boards/{board['id']}",
                                       json={"name": "Sprint 2"}, headers=alice.headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Sprint 2"
    # The same name again changes nothing: no second event.
    again = await world.client.patch(f"/api/v1/boards/{board['id']}",
                                     json={"name": "Sprint 2"}, headers=alice.headers)
    assert again.json() == renamed.json()
    assert len(world.events("board.updated", board_id=board["id"])) == 1

    listed = await world.client.get(f"/api/v1/boards?project_id={project.id}",
                                    headers=alice.headers)
    assert listed.json() == {"items": [renamed.json()], "next_cursor": None}

    deleted = await world.client.delete(f"/api/v1/boards/{board['id']}", headers=alice.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_problem(await world.client.get(f"/api/v1/boards/{board['id']}",
                                          headers=alice.headers), 404)
    assert len(world.events("board.deleted", board_id=board["id"])) == 1


async def test_boards_are_paged_with_a_cursor(world: World):
    alice = await world.user()
    project = await world.project(alice)
    made = [await world.board(alice, project, f"B{i}") for i in range(5)]
    seen, cursor = [], None
    while True:
        url = f"/api/v1/boards?project_id={project.id}&limit=2"
        response = await world.client.get(url + (f"&cursor={cursor}" if cursor else ""),
                                          headers=alice.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [b["id"] for b in seen] == [b["id"] for b in made]
    # A cursor belongs to its query: another project's boards do not take it.
    first = (await world.client.get(f"/api/v1/boards?project_id={project.id}&limit=2",
                                    headers=alice.headers)).json()
    other = await world.project(alice, name="Other")
    assert_problem(await world.client.get(
        f"/api/v1/boards?project_id={other.id}&cursor={first['next_cursor']}",
        headers=alice.headers), 422)
    # Cursors are opaque and signed; limits are clamped; below 1 is refused.
    for query in ("cursor=forged", "limit=0", "limit=-3"):
        assert_problem(await world.client.get(f"/api/v1/boards?project_id={project.id}&{query}",
                                              headers=alice.headers), 422)
    clamped = await world.client.get(f"/api/v1/boards?project_id={project.id}&limit=5000",
                                     headers=alice.headers)
    assert clamped.status_code == 200 and len(clamped.json()["items"]) == 5


async def test_board_validation(world: World):
    alice = await world.user()
    project = await world.project(alice)
    h = alice.headers
    for body in ({"project_id": str(project.id), "name": "   "},
                 {"project_id": str(project.id), "name": ""},
                 {"project_id": str(project.id), "name": "x" * 101},
                 {"project_id": str(project.id), "name": "ok", "color": "red"},
                 {"project_id": "not-a-uuid", "name": "ok"},
                 {"name": "ok"}):
        assert_problem(await world.client.post("/api/v1/boards", json=body, headers=h), 422)
    assert_problem(await world.client.get("/api/v1/boards", headers=h), 422)
    board = await world.board(alice, project)
    for patch in ({}, {"name": None}, {"name": " "},
                  {"name": "x", "project_id": str(project.id)}):
        assert_problem(await world.client.patch(f"/api/v1/boards/{board['id']}", json=patch,
                                                headers=h), 422)
    # A project nobody told us about and workspace does not know either.
    assert_problem(await world.client.post("/api/v1/boards", json={
        "project_id": str(uuid.uuid4()), "name": "x"}, headers=h), 404)


async def test_lists_are_appended_in_order_and_moved(world: World):
    alice = await world.user()
    project = await world.project(alice)
    board = await world.board(alice, project)
    todo, doing, done = [await world.list(alice, board, n) for n in ("To do", "Doing", "Done")]
    assert todo["position"] < doing["position"] < done["position"]
    assert set(todo) == {"id", "board_id", "name", "position", "wip_limit"}

    async def names() -> list[str]:
        response = await world.client.get(f"/api/v1/lists?board_id={board['id']}",
                                          headers=alice.headers)
        assert response.status_code == 200
        items = response.json()["items"]
        assert [i["position"] for i in items] == sorted(i["position"] for i in items)
        return [i["name"] for i in items]

    moved = await world.client.post(f"/api/v1/lists/{done['id']}/move",
                                    json={"before_id": todo["id"]}, headers=alice.headers)
    assert moved.status_code == 200, moved.text
    assert await names() == ["Done", "To do", "Doing"]
    moved = await world.client.post(f"/api/v1/lists/{done['id']}/move",
                                    json={"after_id": doing["id"]}, headers=alice.headers)
    assert moved.status_code == 200
    assert await names() == ["To do", "Doing", "Done"]
    (event,) = world.events("list.moved", list_id=done["id"])[-1:]
    assert event["data"]["position"] == moved.json()["position"]

    # exactly one of before_id / after_id, a list of the same board, not itself
    other_board = await world.board(alice, project, "Other")
    stranger_list = await world.list(alice, other_board)
    for body in ({}, {"before_id": todo["id"], "after_id": doing["id"]},
                 {"before_id": stranger_list["id"]}, {"after_id": done["id"]},
                 {"before_id": str(uuid.uuid4())}, {"before_id": "nope"},
                 {"before_id": todo["id"], "extra": 1}):
        assert_problem(await world.client.post(f"/api/v1/lists/{done['id']}/move", json=body,
                                               headers=alice.headers), 422)


async def test_list_update_wip_limit_and_delete(world: World):
    alice = await world.user()
    project = await world.project(alice)
    board = await world.board(alice, project)
    target = await world.list(alice, board, "Doing", wip_limit=2)
    assert target["wip_limit"] == 2
    url = f"/api/v1/lists/{target['id']}"
    for body in ({"wip_limit": 0}, {"wip_limit": -1}, {"wip_limit": "x"}, {"wip_limit": "2"},
                 {"wip_limit": True}, {"wip_limit": 2.5}, {"name": None},
                 {"name": ""}, {"position": "a0"}):
        assert_problem(await world.client.patch(url, json=body, headers=alice.headers), 422)
    renamed = await world.client.patch(url, json={"name": "In progress"}, headers=alice.headers)
    assert renamed.json()["wip_limit"] == 2 and renamed.json()["name"] == "In progress"
    cleared = await world.client.patch(url, json={"wip_limit": None}, headers=alice.headers)
    assert cleared.json()["wip_limit"] is None
    unchanged = await world.client.patch(url, json={}, headers=alice.headers)
    assert unchanged.status_code == 200
    assert len(world.events("list.updated", list_id=target["id"])) == 2

    tasks = [await world.task(alice, target, f"T{i}") for i in range(3)]
    assert (await world.client.delete(url, headers=alice.headers)).status_code == 204
    assert_problem(await world.client.get(f"/api/v1/tasks/{tasks[0]['id']}",
                                          headers=alice.headers), 404)
    # Every task that went with the list is announced (reminders etc. are dropped).
    for task in tasks:
        assert len(world.events("task.deleted", task_id=task["id"])) == 1
    assert len(world.events("list.deleted", list_id=target["id"])) == 1


async def test_board_detail_has_lists_and_tasks_in_order(world: World):
    alice = await world.user()
    project = await world.project(alice)
    board = await world.board(alice, project)
    first, second = await world.list(alice, board, "A"), await world.list(alice, board, "B")
    a = [await world.task(alice, first, f"a{i}") for i in range(3)]
    b = [await world.task(alice, second, f"b{i}") for i in range(2)]
    # Reorder: move a2 to the front, then list B before list A.
    await world.client.post(f"/api/v1/tasks/{a[2]['id']}/move",
                            json={"list_id": first["id"], "before_id": a[0]["id"]},
                            headers=alice.headers)
    await world.client.post(f"/api/v1/lists/{second['id']}/move",
                            json={"before_id": first["id"]}, headers=alice.headers)
    response = await world.client.get(f"/api/v1/boards/{board['id']}", headers=alice.headers)
    assert response.status_code == 200
    detail = response.json()
    assert [lst["name"] for lst in detail["lists"]] == ["B", "A"]
    assert [t["title"] for t in detail["lists"][0]["tasks"]] == ["b0", "b1"]
    assert [t["title"] for t in detail["lists"][1]["tasks"]] == ["a2", "a0", "a1"]
    assert detail["lists"][1]["tasks"][0]["version"] == 2
    assert {t["id"] for t in detail["lists"][0]["tasks"]} == {t["id"] for t in b}
    assert detail["id"] == board["id"] and detail["name"] == board["name"]
    assert set(detail) == {"id", "project_id", "name", "created_at", "lists"}
    assert {k: v for k, v in detail["lists"][0].items() if k != "tasks"} == second | {
        "position": detail["lists"][0]["position"]}


async def test_board_detail_tasks_are_exactly_the_task_representation(world: World):
    """The board document is built by PostgreSQL: each task in it must equal GET /tasks/{id}
    (times with and without fractions, nulls, labels, unicode)."""
    alice = await world.user()
    project = await world.project(alice)
    board = await world.board(alice, project)
    target = await world.list(alice, board, "L éè “q”", wip_limit=9)
    await world.task(alice, target, 'Plain "quoted" \\ title')
    await world.task(alice, target, "Full ☃", description="multi\nline\ttab",
                     due_at="2030-01-02T03:04:05Z", labels=["a", "b c"], priority="low",
                     assignee_id=str(alice.id))
    await world.task(alice, target, "Fraction", due_at="2030-01-02T03:04:05.5+01:00")
    detail = (await world.client.get(f"/api/v1/boards/{board['id']}",
                                     headers=alice.headers)).json()
    (listed,) = detail["lists"]
    assert {k: v for k, v in listed.items() if k != "tasks"} == target
    assert len(listed["tasks"]) == 3
    for task in listed["tasks"]:
        single = await world.client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
        assert task == single.json()
    empty = await world.board(alice, project, "Empty")
    await world.list(alice, empty)
    got = (await world.client.get(f"/api/v1/boards/{empty['id']}", headers=alice.headers))
    assert got.json()["lists"][0]["tasks"] == []
    assert got.headers["content-type"] == "application/json"


async def test_board_detail_uses_a_constant_number_of_queries(world: World, client):
    """Lists and tasks come from two queries, however many lists the board has."""
    import sqlalchemy as sa  # noqa: F401  (event hook below)
    from sqlalchemy import event

    alice = await world.user()
    project = await world.project(alice)
    board = await world.board(alice, project)
    for i in range(6):
        target = await world.list(alice, board, f"L{i}")
        await world.task(alice, target, f"t{i}")
    engine = client._transport.app.state.engine.sync_engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = await world.client.get(f"/api/v1/boards/{board['id']}",
                                          headers=alice.headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200 and len(response.json()["lists"]) == 6
    touching = [s for s in statements if "boards.lists" in s or "boards.tasks" in s]
    assert 1 <= len(touching) <= 2, touching


async def test_request_id_oversized_bodies_and_docs(world: World):
    alice = await world.user()
    project = await world.project(alice)
    response = await world.client.post("/api/v1/boards", headers={
        **alice.headers, "X-Request-ID": "abc-123"},
        json={"project_id": str(project.id), "name": "B"})
    assert response.headers["x-request-id"] == "abc-123"
    huge = await world.client.post("/api/v1/comments", headers=alice.headers,
                                   content=b'{"task_id": "' + b"x" * (1024 * 1024 + 10) + b'"}')
    assert_problem(huge, 413)

    async def chunks():
        for _ in range(20):
            yield b" " * 100_000

    # A chunked JSON body with no Content-Length is cut off once it passes the limit.
    streamed = await world.client.post(
        "/api/v1/comments", content=chunks(),
        headers={**alice.headers, "Content-Type": "application/json"})
    assert_problem(streamed, 413)
    schema = (await world.client.get("/docs/boards/openapi.json")).json()
    for path in ("/api/v1/boards", "/api/v1/boards/{board_id}", "/api/v1/lists/{list_id}/move",
                 "/api/v1/tasks/{task_id}/move", "/api/v1/comments", "/api/v1/activity"):
        assert path in schema["paths"], path
    assert (await world.client.get("/health/ready")).status_code == 200
