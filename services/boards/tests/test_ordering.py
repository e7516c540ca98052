"""Ranks under load: concurrent moves into one gap, one row written per move whatever the
list length, and background rebalancing."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa
from boards.domain import rank
from boards.service.rebalance import rebalance_long_ranks
from sqlalchemy import event

from services.boards.tests.boards_helpers import World


async def _list_state(world: World, list_id: str, user) -> list[dict]:
    response = await world.client.get(f"/api/v1/tasks?list_id={list_id}&limit=200",
                                      headers=user.headers)
    assert response.status_code == 200
    return response.json()["items"]


async def test_concurrent_moves_into_the_same_gap_get_distinct_ordered_positions(world: World):
    alice = await world.user()
    project = await world.project(alice)
    board = await world.board(alice, project)
    target, source = await world.list(alice, board, "Target"), await world.list(alice, board)
    left = await world.task(alice, target, "left")
    right = await world.task(alice, target, "right")
    movers = [await world.task(alice, source, f"m{i}") for i in range(24)]

    async def move(task: dict, i: int):
        body = {"list_id": target["id"], **({"before_id": right["id"]} if i % 2 else
                                            {"after_id": left["id"]})}
        return await world.client.post(f"/api/v1/tasks/{task['id']}/move", json=body,
                                       headers=alice.headers)

    responses = await asyncio.gather(*(move(t, i) for i, t in enumerate(movers)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    items = await _list_state(world, target["id"], alice)
    positions = [t["position"] for t in items]
    assert len(items) == 26 and len(set(positions)) == 26
    assert positions == sorted(positions)
    assert items[0]["id"] == left["id"] and items[-1]["id"] == right["id"]
    # Every response's position is the one stored.
    stored = {t["id"]: t["position"] for t in items}
    assert all(stored[r.json()["id"]] == r.json()["position"] for r in responses)


async def test_concurrent_appends_and_creates_never_collide(world: World):
    alice = await world.user()
    project = await world.project(alice)
    target = await world.list(alice, await world.board(alice, project))
    responses = await asyncio.gather(*(world.client.post("/api/v1/tasks", json={
        "list_id": target["id"], "title": f"t{i}"}, headers=alice.headers) for i in range(20)))
    assert all(r.status_code == 201 for r in responses)
    positions = [t["position"] for t in await _list_state(world, target["id"], alice)]
    assert len(set(positions)) == 20 and positions == sorted(positions)


async def test_concurrent_creates_respect_the_wip_limit(world: World):
    alice = await world.user()
    project = await world.project(alice)
    target = await world.list(alice, await world.board(alice, project), wip_limit=3)
    responses = await asyncio.gather(*(world.client.post("/api/v1/tasks", json={
        "list_id": target["id"], "title": f"t{i}"}, headers=alice.headers) for i in range(10)))
    assert sorted(r.status_code for r in responses) == [201] * 3 + [409] * 7


def _seed_tasks(world: World, project_id, board_id, list_id, user_id, n: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    with world.db.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO boards.tasks (id, project_id, board_id, list_id, title, position, "
            "created_by) SELECT i, :p, :b, :l, 'seeded', pos, :u "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:positions AS text[])) AS t(i, pos)"),
            {"p": project_id, "b": board_id, "l": list_id, "u": user_id, "ids": ids,
             "positions": rank.spread(n)})
    return ids


async def test_moving_in_a_list_of_1000_tasks_updates_exactly_one_row(world: World, client):
    alice = await world.user()
    project = await world.project(alice)
    board = await world.board(alice, project)
    target = await world.list(alice, board)
    ids = _seed_tasks(world, project.id, board["id"], target["id"], alice.id, 1000)
    engine = client._transport.app.state.engine.sync_engine
    task_updates: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE BOARDS.TASKS"):
            task_updates.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", count)
    try:
        moved = await world.client.post(f"/api/v1/tasks/{ids[10]}/move", json={
            "list_id": target["id"], "after_id": ids[500], "before_id": ids[501]},
            headers=alice.headers)
    finally:
        event.remove(engine, "after_cursor_execute", count)
    assert moved.status_code == 200, moved.text
    assert task_updates == [1]          # one UPDATE statement, one row
    versions = world.scalar("SELECT sum(version) FROM boards.tasks WHERE list_id = :l",
                            l=target["id"])
    assert versions == 1001             # only the moved task's version changed
    with world.db.connect() as conn:
        ordered = [str(r[0]) for r in conn.execute(sa.text(
            "SELECT id FROM boards.tasks WHERE list_id = :l ORDER BY position"),
            {"l": target["id"]})]
    assert ordered.index(ids[10]) == ordered.index(ids[500]) + 1
    assert ordered.index(ids[501]) == ordered.index(ids[10]) + 1


async def test_rebalancing_shortens_ranks_and_keeps_order_and_versions(world: World, client):
    alice = await world.user()
    project = await world.project(alice)
    board = await world.board(alice, project)
    target = await world.list(alice, board)
    first = await world.task(alice, target, "first")
    last = await world.task(alice, target, "last")
    # Always inserting right after "first" grows the ranks.
    for i in range(40):
        await world.client.post("/api/v1/tasks", json={"list_id": target["id"],
                                                       "title": f"n{i}"}, headers=alice.headers)
        latest = (await _list_state(world, target["id"], alice))[-1]
        await world.client.post(f"/api/v1/tasks/{latest['id']}/move", json={
            "list_id": target["id"], "after_id": first["id"]}, headers=alice.headers)
    before = await _list_state(world, target["id"], alice)
    assert max(len(t["position"]) for t in before) > 6
    sessions = client._transport.app.state.sessions
    assert await rebalance_long_ranks(sessions, max_length=6) == 1
    after = await _list_state(world, target["id"], alice)
    assert [t["id"] for t in after] == [t["id"] for t in before]
    assert [t["version"] for t in after] == [t["version"] for t in before]
    assert max(len(t["position"]) for t in after) <= 3
    assert after[-1]["id"] == last["id"]
    # Moves keep working on the new ranks.
    moved = await world.client.post(f"/api/v1/tasks/{last['id']}/move", json={
        "list_id": target["id"], "before_id": after[1]["id"]}, headers=alice.headers)
    assert moved.status_code == 200
    assert await rebalance_long_ranks(sessions, max_length=6) == 0
