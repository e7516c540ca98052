"""Tasks: defaults and validation, versions / ETag / If-Match, the events of a PATCH,
moves (neighbours, other lists, other projects, WIP limits), filters."""

from __future__ import annotations

import uuid

from contracts.events import parse_event

from services.boards.tests.boards_helpers import World, assert_problem


async def _setup(world: World):
    alice = await world.user("Alice")
    bob = await world.user("Bob")
    project = await world.project(alice)
    await world.add_member(project, bob, "editor")
    board = await world.board(alice, project)
    todo = await world.list(alice, board, "To do")
    done = await world.list(alice, board, "Done")
    return alice, bob, project, board, todo, done


async def test_create_defaults_fields_and_etag(world: World):
    alice, _, project, board, todo, _ = await _setup(world)
    response = await world.client.post("/api/v1/tasks", json={
        "list_id": todo["id"], "title": "  Fix login  "}, headers=alice.headers)
    assert response.status_code == 201, response.text
    task = response.json()
    assert set(task) == {"id", "project_id", "board_id", "list_id", "title", "description",
                         "assignee_id", "due_at", "priority", "labels", "position",
                         "created_by", "created_at", "updated_at", "version"}
    assert task["title"] == "Fix login" and task["description"] == ""
    assert task["priority"] == "medium" and task["labels"] == [] and task["version"] == 1
    assert task["assignee_id"] is None and task["due_at"] is None
    assert task["project_id"] == str(project.id) and task["board_id"] == board["id"]
    assert task["created_by"] == str(alice.id)
    assert response.headers["etag"] == '"1"'
    got = await world.client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)
    assert got.json() == task and got.headers["etag"] == '"1"'
    (created,) = world.events("task.created", task_id=task["id"])
    assert parse_event(created).payload().model_dump(mode="json") == {
        "task_id": task["id"], "project_id": str(project.id), "board_id": board["id"],
        "list_id": todo["id"], "title": "Fix login", "assignee_id": None, "due_at": None,
        "created_by": str(alice.id), "version": 1}


async def test_create_with_all_fields(world: World):
    alice, bob, _, _, todo, _ = await _setup(world)
    task = await world.task(alice, todo, "Ship", description="Line 1\nLine 2",
                            assignee_id=str(bob.id), due_at="2030-01-02T03:04:05+02:00",
                            priority="urgent", labels=[" ui ", "backend", "ui"])
    assert task["due_at"] == "2030-01-02T01:04:05Z"
    assert task["labels"] == ["ui", "backend"] and task["priority"] == "urgent"
    assert task["assignee_id"] == str(bob.id)
    # Assigning at creation is an assignment: the assignee hears about it.
    (assigned,) = world.events("task.assigned", task_id=task["id"])
    assert assigned["data"]["assignee_id"] == str(bob.id)
    assert assigned["data"]["previous_assignee_id"] is None


async def test_create_validation(world: World):
    alice, _, _, _, todo, _ = await _setup(world)
    stranger = uuid.uuid4()
    base = {"list_id": todo["id"], "title": "T"}
    invalid = [
        {"list_id": todo["id"]}, {**base, "title": "  "}, {**base, "title": "x" * 201},
        {**base, "priority": "critical"}, {**base, "labels": ["x" * 51]},
        {**base, "labels": [""]}, {**base, "labels": [f"l{i}" for i in range(21)]},
        {**base, "due_at": "2030-01-01T10:00:00"},          # no offset
        {**base, "due_at": 1700000000}, {**base, "due_at": "1700000000"},   # not RFC 3339
        {**base, "due_at": "2030-01-01T10:00:00+0100"}, {**base, "due_at": "2030-01-01"},
        {**base, "title": "a\x00b"},
        {**base, "due_at": "tomorrow"}, {**base, "description": "x" * 10_001},
        {**base, "assignee_id": "bob"}, {**base, "list_id": "x"}, {**base, "status": "open"},
        {**base, "version": 3},
    ]
    for body in invalid:
        assert_problem(await world.client.post("/api/v1/tasks", json=body,
                                               headers=alice.headers), 422)
    # An assignee without a role in the project.
    problem = assert_problem(await world.client.post("/api/v1/tasks", json={
        **base, "assignee_id": str(stranger)}, headers=alice.headers), 422)
    assert problem["errors"][0]["loc"] == ["body", "assignee_id"]
    ok = await world.client.post("/api/v1/tasks", json={**base, "title": "x" * 200,
                                                         "labels": ["y" * 50] * 20},
                                 headers=alice.headers)
    assert ok.status_code == 201


async def test_patch_versions_events_and_noop(world: World):
    alice, bob, _, _, todo, _ = await _setup(world)
    task = await world.task(alice, todo)
    url = f"/api/v1/tasks/{task['id']}"
    noop = await world.client.patch(url, json={"title": "Fix login", "priority": "medium"},
                                    headers=alice.headers)
    assert noop.status_code == 200 and noop.json()["version"] == 1
    assert noop.json()["updated_at"] == task["updated_at"]
    assert noop.headers["etag"] == '"1"'

    # One PATCH, three kinds of change: three events, one version step.
    response = await world.client.patch(url, headers=alice.headers, json={
        "title": "Fix login page", "priority": "high", "assignee_id": str(bob.id),
        "due_at": "2031-05-01T12:00:00Z"})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["version"] == 2 and response.headers["etag"] == '"2"'
    (updated,) = world.events("task.updated", task_id=task["id"])
    assert sorted(updated["data"]["changed_fields"]) == ["priority", "title"]
    (assigned,) = world.events("task.assigned", task_id=task["id"])
    assert assigned["data"]["assignee_id"] == str(bob.id) and assigned["actor_id"] == str(alice.id)
    (due,) = world.events("task.due_date_changed", task_id=task["id"])
    assert due["data"]["due_at"] == "2031-05-01T12:00:00Z"
    assert due["data"]["previous_due_at"] is None
    for event in (updated, assigned, due):
        assert event["data"]["version"] == 2 and event["data"]["title"] == "Fix login page"

    # Only the assignee changes: task.assigned, not task.updated.
    await world.client.patch(url, json={"assignee_id": str(alice.id)}, headers=alice.headers)
    assert len(world.events("task.updated", task_id=task["id"])) == 1
    reassigned = world.events("task.assigned", task_id=task["id"])[-1]
    assert reassigned["data"]["previous_assignee_id"] == str(bob.id)
    cleared = await world.client.patch(url, json={"assignee_id": None, "due_at": None},
                                       headers=alice.headers)
    assert cleared.json()["assignee_id"] is None and cleared.json()["due_at"] is None
    assert cleared.json()["version"] == 4
    (unassigned,) = world.events("task.unassigned", task_id=task["id"])
    assert unassigned["data"]["previous_assignee_id"] == str(alice.id)
    assert world.events("task.due_date_changed", task_id=task["id"])[-1]["data"][
        "previous_due_at"] == "2031-05-01T12:00:00Z"

    labels = await world.client.patch(url, json={"labels": ["a", "b"], "description": "d"},
                                      headers=alice.headers)
    assert labels.json()["labels"] == ["a", "b"] and labels.json()["version"] == 5


async def test_patch_validation(world: World):
    alice, _, _, _, todo, _ = await _setup(world)
    task = await world.task(alice, todo)
    url = f"/api/v1/tasks/{task['id']}"
    for body in ({"title": None}, {"title": ""}, {"priority": None}, {"priority": "meh"},
                 {"labels": None}, {"description": None}, {"due_at": "2030-01-01"},
                 {"due_at": "2030-01-01T00:00:00"}, {"list_id": todo["id"]},
                 {"version": 9}, {"assignee_id": str(uuid.uuid4())}):
        assert_problem(await world.client.patch(url, json=body, headers=alice.headers), 422)
    assert (await world.client.get(url, headers=alice.headers)).json()["version"] == 1


async def test_if_match(world: World):
    alice, _, _, _, todo, done = await _setup(world)
    task = await world.task(alice, todo)
    url = f"/api/v1/tasks/{task['id']}"
    ok = await world.client.patch(url, json={"title": "A"},
                                  headers={**alice.headers, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    stale = await world.client.patch(url, json={"title": "B"},
                                     headers={**alice.headers, "If-Match": '"1"'})
    assert_problem(stale, 412)
    assert stale.headers["etag"] == '"2"'
    assert (await world.client.get(url, headers=alice.headers)).json()["title"] == "A"
    assert_problem(await world.client.post(f"{url}/move", json={"list_id": done["id"]},
                                           headers={**alice.headers, "If-Match": '"1"'}), 412)
    assert (await world.client.get(url, headers=alice.headers)).json()["list_id"] == todo["id"]
    moved = await world.client.post(f"{url}/move", json={"list_id": done["id"]},
                                    headers={**alice.headers, "If-Match": 'W/"2", "7"'})
    assert moved.status_code == 200 and moved.headers["etag"] == '"3"'
    assert (await world.client.patch(url, json={"title": "C"},
                                     headers={**alice.headers, "If-Match": "*"})).status_code == 200
    assert_problem(await world.client.delete(url, headers={**alice.headers, "If-Match": '"3"'}),
                   412)
    assert (await world.client.delete(url, headers={**alice.headers,
                                                    "If-Match": '"4"'})).status_code == 204


async def test_moves_between_and_across_lists(world: World):
    alice, _, _, _, todo, done = await _setup(world)
    t = [await world.task(alice, todo, f"t{i}") for i in range(4)]

    async def order(target: dict) -> list[str]:
        response = await world.client.get(f"/api/v1/tasks?list_id={target['id']}",
                                          headers=alice.headers)
        return [task["title"] for task in response.json()["items"]]

    async def move(task: dict, **body) -> dict:
        response = await world.client.post(f"/api/v1/tasks/{task['id']}/move", json={
            k: (v["id"] if isinstance(v, dict) else v) for k, v in body.items()},
            headers=alice.headers)
        assert response.status_code == 200, response.text
        return response.json()

    await move(t[3], list_id=todo, before_id=t[0])
    assert await order(todo) == ["t3", "t0", "t1", "t2"]
    await move(t[3], list_id=todo, after_id=t[1])
    assert await order(todo) == ["t0", "t1", "t3", "t2"]
    await move(t[0], list_id=todo, after_id=t[3], before_id=t[2])
    assert await order(todo) == ["t1", "t3", "t0", "t2"]
    await move(t[1], list_id=todo)            # neither: to the end
    assert await order(todo) == ["t3", "t0", "t2", "t1"]
    moved = await move(t[2], list_id=done)
    assert moved["list_id"] == done["id"] and moved["version"] == 2
    assert await order(done) == ["t2"]
    await move(t[3], list_id=done, before_id=t[2])
    assert await order(done) == ["t3", "t2"] and await order(todo) == ["t0", "t1"]
    (event,) = world.events("task.moved", task_id=t[2]["id"])
    assert event["data"]["from_list_id"] == todo["id"]
    assert event["data"]["list_id"] == done["id"]
    assert event["data"]["position"] == moved["position"]


async def test_move_errors(world: World):
    alice, _, project, board, todo, done = await _setup(world)
    a, b, c = [await world.task(alice, todo, n) for n in "abc"]
    d = await world.task(alice, done, "d")
    url = f"/api/v1/tasks/{a['id']}/move"
    invalid = [
        {"list_id": todo["id"], "before_id": d["id"]},     # not in the target list
        {"list_id": done["id"], "after_id": b["id"]},      # not in the target list
        {"list_id": todo["id"], "after_id": b["id"], "before_id": b["id"]},
        {"list_id": todo["id"], "after_id": c["id"], "before_id": b["id"]},  # wrong way round
        {"list_id": todo["id"], "before_id": a["id"]},     # itself
        {"list_id": todo["id"], "before_id": str(uuid.uuid4())},
        {"list_id": "nope"}, {}, {"list_id": todo["id"], "position": "a0"},
    ]
    for body in invalid:
        assert_problem(await world.client.post(url, json=body, headers=alice.headers), 422)
    # After_id b, before_id c are neighbours once a is ignored? a is before b: yes they are.
    ok = await world.client.post(url, json={"list_id": todo["id"], "after_id": b["id"],
                                            "before_id": c["id"]}, headers=alice.headers)
    assert ok.status_code == 200
    # A list of another project of mine: 422; of a project I cannot see: 404.
    other_project = await world.project(alice, name="Other")
    other_list = await world.list(alice, await world.board(alice, other_project))
    problem = assert_problem(await world.client.post(url, json={"list_id": other_list["id"]},
                                                     headers=alice.headers), 422)
    assert problem["errors"][0]["loc"] == ["body", "list_id"]
    mallory = await world.user("Mallory")
    hidden_project = await world.project(mallory, name="Hidden")
    hidden_list = await world.list(mallory, await world.board(mallory, hidden_project))
    assert_problem(await world.client.post(url, json={"list_id": hidden_list["id"]},
                                           headers=alice.headers), 404)
    assert_problem(await world.client.post(url, json={"list_id": str(uuid.uuid4())},
                                           headers=alice.headers), 404)
    # Another team's list in a create body: 404 too.
    assert_problem(await world.client.post("/api/v1/tasks", json={
        "list_id": hidden_list["id"], "title": "x"}, headers=alice.headers), 404)


async def test_wip_limit_on_create_and_on_move_from_another_list(world: World):
    alice, _, _, board, todo, _ = await _setup(world)
    doing = await world.list(alice, board, "Doing", wip_limit=2)
    first, second = await world.task(alice, doing, "1"), await world.task(alice, doing, "2")
    assert_problem(await world.client.post("/api/v1/tasks", json={
        "list_id": doing["id"], "title": "3"}, headers=alice.headers), 409,
        "wip-limit-reached")
    waiting = await world.task(alice, todo, "waiting")
    assert_problem(await world.client.post(f"/api/v1/tasks/{waiting['id']}/move", json={
        "list_id": doing["id"]}, headers=alice.headers), 409, "wip-limit-reached")
    # Moving within the full list is fine.
    within = await world.client.post(f"/api/v1/tasks/{second['id']}/move", json={
        "list_id": doing["id"], "before_id": first["id"]}, headers=alice.headers)
    assert within.status_code == 200
    # Lower the limit below the count: allowed, it only stops new arrivals.
    lowered = await world.client.patch(f"/api/v1/lists/{doing['id']}", json={"wip_limit": 1},
                                       headers=alice.headers)
    assert lowered.status_code == 200
    await world.client.post(f"/api/v1/tasks/{first['id']}/move", json={"list_id": todo["id"]},
                            headers=alice.headers)
    assert_problem(await world.client.post(f"/api/v1/tasks/{waiting['id']}/move", json={
        "list_id": doing["id"]}, headers=alice.headers), 409, "wip-limit-reached")
    await world.client.patch(f"/api/v1/lists/{doing['id']}", json={"wip_limit": None},
                             headers=alice.headers)
    assert (await world.client.post(f"/api/v1/tasks/{waiting['id']}/move", json={
        "list_id": doing["id"]}, headers=alice.headers)).status_code == 200


async def test_filters(world: World):
    alice, bob, project, board, todo, done = await _setup(world)
    other_board = await world.board(alice, project, "Other")
    elsewhere = await world.list(alice, other_board)
    t1 = await world.task(alice, todo, "Login bug", assignee_id=str(bob.id),
                          due_at="2030-01-01T00:00:00Z")
    t2 = await world.task(alice, done, "Signup flow", description="100% about LOGIN",
                          assignee_id=str(alice.id), due_at="2030-06-01T00:00:00Z")
    t3 = await world.task(alice, elsewhere, "Unrelated")

    async def ids(query: str, user=alice) -> list[str]:
        response = await world.client.get(f"/api/v1/tasks?{query}", headers=user.headers)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert await ids(f"board_id={board['id']}") == [t1["id"], t2["id"]]
    assert await ids(f"list_id={done['id']}") == [t2["id"]]
    assert await ids(f"board_id={board['id']}&assignee_id=me") == [t2["id"]]
    assert await ids(f"board_id={board['id']}&assignee_id=me", user=bob) == [t1["id"]]
    assert await ids(f"assignee_id={bob.id}") == [t1["id"]]
    assert await ids(f"board_id={board['id']}&due_before=2030-03-01T00:00:00%2B00:00") == \
        [t1["id"]]
    assert await ids(f"board_id={board['id']}&q=login") == [t1["id"], t2["id"]]
    assert await ids(f"board_id={board['id']}&q=100%25") == [t2["id"]]
    assert await ids("q=unrelated") == [t3["id"]]
    # Without board/list: every project the caller has a role in, nothing else.
    mallory = await world.user("Mallory")
    assert await ids("q=login", user=mallory) == []
    assert_problem(await world.client.get(f"/api/v1/tasks?board_id={board['id']}",
                                          headers=mallory.headers), 404)
    assert_problem(await world.client.get(f"/api/v1/tasks?list_id={todo['id']}",
                                          headers=mallory.headers), 404)
    for bad_filter, loc in (("due_before=2030-03-01T00:00:00", "due_before"),
                            ("due_before=1700000000", "due_before"),
                            ("q=a%00b", "q"), ("q=tab%09here", "q")):
        problem = assert_problem(await world.client.get(
            f"/api/v1/tasks?board_id={board['id']}&{bad_filter}", headers=alice.headers), 422)
        assert problem["errors"][0]["loc"] == ["query", loc]


async def test_tasks_in_list_order_are_paged(world: World):
    alice, _, _, _, todo, _ = await _setup(world)
    made = [await world.task(alice, todo, f"t{i}") for i in range(7)]
    seen, cursor = [], None
    while True:
        url = f"/api/v1/tasks?list_id={todo['id']}&limit=3"
        page = (await world.client.get(url + (f"&cursor={cursor}" if cursor else ""),
                                       headers=alice.headers)).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [t["id"] for t in made]
    # A cursor of another listing is refused, not misread.
    board_cursor = (await world.client.get(
        f"/api/v1/tasks?board_id={todo['board_id']}&limit=1", headers=alice.headers)
    ).json()["next_cursor"]
    assert_problem(await world.client.get(f"/api/v1/tasks?list_id={todo['id']}&cursor="
                                          f"{board_cursor}", headers=alice.headers), 422)


async def test_delete_task(world: World):
    alice, _, _, _, todo, _ = await _setup(world)
    task = await world.task(alice, todo)
    await world.created(alice, "/api/v1/comments", {"task_id": task["id"], "body": "hi"})
    assert (await world.client.delete(f"/api/v1/tasks/{task['id']}",
                                      headers=alice.headers)).status_code == 204
    assert_problem(await world.client.get(f"/api/v1/tasks/{task['id']}",
                                          headers=alice.headers), 404)
    assert_problem(await world.client.delete(f"/api/v1/tasks/{task['id']}",
                                             headers=alice.headers), 404)
    assert world.scalar("SELECT count(*) FROM boards.comments WHERE task_id = :t",
                        t=task["id"]) == 0
    assert len(world.events("task.deleted", task_id=task["id"])) == 1
