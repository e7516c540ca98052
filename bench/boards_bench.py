"""Boards latency figures, measured through the full native stack (gateway -> boards API ->
PostgreSQL), one client request at a time:

  (1) moving a task to the middle of a list of 10 tasks vs. a list of 10,000 tasks
      (p50/p99; goal: p50 ratio <= 1.2, i.e. the cost does not depend on the list length:
      a move reads its neighbours with index probes and writes one row);
  (2) GET /api/v1/boards/{id} of a board with 1,000 tasks in 5 lists (goal: p50 <= 60 ms).

Users and tokens come from identity through the gateway. The project is announced with a
``project.created`` event on ``workspace.events`` (what workspace publishes), which the boards
consumer applies; with ``--with-workspace`` it is created through workspace instead.
Bulk tasks are seeded with SQL (ranks from boards.domain.rank).

    uv run python bench/boards_bench.py [--moves 300] [--reads 200]

``run()`` returns the figures as a dict (for bench/run.py) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from boards.domain import rank
from contracts.events import ProjectCreated, make_event
from contracts.streams import WORKSPACE_EVENTS
from devstack.infra import ScratchArea, progress
from devstack.stack import Stack
from devstack.testing import User, register_and_login
from faststream.redis import RedisBroker

RATES = {"auth_rate": "200r/s", "auth_burst": 400, "api_rate": "5000r/s", "api_burst": 10000}
GOAL_MOVE_RATIO = 1.2
GOAL_BOARD_P50_MS = 60.0


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _summary(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(samples), 2),
            "p99_ms": round(_percentile(samples, 99), 2), "n": len(samples)}


def _project(stack: Stack, api: httpx.Client, owner: User) -> uuid.UUID:
    """A project the owner administers: through workspace if it runs, else its event."""
    if "workspace" in stack.services:
        team = api.post("/api/v1/teams", json={"name": "Bench"}, headers=owner.headers)
        if team.status_code == 201:
            project = api.post("/api/v1/projects", json={"team_id": team.json()["id"],
                                                         "name": "Bench"},
                               headers=owner.headers)
            if project.status_code == 201:
                return uuid.UUID(project.json()["id"])
    project_id = uuid.uuid4()
    envelope = make_event("project.created", ProjectCreated(
        project_id=project_id, team_id=uuid.uuid4(), name="Bench",
        created_by=uuid.UUID(owner.id)), producer="workspace", actor_id=uuid.UUID(owner.id))

    async def publish() -> None:
        # Exactly what workspace's relay does.
        broker = RedisBroker(stack.redis.url)
        await broker.connect()
        await broker.publish(envelope.model_dump(mode="json"), stream=WORKSPACE_EVENTS)
        await broker.stop()

    asyncio.run(publish())
    deadline = time.monotonic() + 15
    with psycopg.connect(stack.postgres.admin_url.rsplit("/", 1)[0] + "/kanban") as conn:
        while conn.execute("SELECT 1 FROM boards.project_members WHERE project_id = %s",
                           (project_id,)).fetchone() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the boards consumer did not apply project.created")
            time.sleep(0.05)
    return project_id


def _created(api: httpx.Client, user: User, path: str, body: dict) -> dict:
    response = api.post(path, json=body, headers=user.headers)
    response.raise_for_status()
    return response.json()


def _seed(conn: psycopg.Connection, project_id: uuid.UUID, board_id: str, list_id: str,
          user_id: str, n: int, prefix: str) -> list[str]:
    """``n`` tasks appended to an empty list in one statement; their ids in list order."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    conn.execute(
        "INSERT INTO boards.tasks (id, project_id, board_id, list_id, title, position, "
        "created_by) SELECT i, %s, %s, %s, %s || n, pos, %s FROM unnest(%s::uuid[], "
        "%s::text[]) WITH ORDINALITY AS t(i, pos, n)",
        (project_id, board_id, list_id, prefix, user_id, ids, rank.spread(n)))
    conn.commit()
    return ids


def _time_moves(api: httpx.Client, user: User, list_id: str, ids: list[str], moves: int,
                warmup: int) -> list[float]:
    """Move tasks from the front of the list to just before the middle task, repeatedly."""
    middle = ids[len(ids) // 2]
    movers = ids[: max(2, min(len(ids) // 2, 50))]
    samples = []
    for i in range(warmup + moves):
        body = {"list_id": list_id, "before_id": middle}
        started = time.perf_counter()
        response = api.post(f"/api/v1/tasks/{movers[i % len(movers)]}/move", json=body,
                            headers=user.headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"move failed: {response.status_code} {response.text}")
        if i >= warmup:
            samples.append(elapsed)
    return samples


def _time_reads(api: httpx.Client, user: User, board_id: str, reads: int,
                warmup: int) -> tuple[list[float], int]:
    samples, size = [], 0
    for i in range(warmup + reads):
        started = time.perf_counter()
        response = api.get(f"/api/v1/boards/{board_id}", headers=user.headers)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        size = len(response.content)
        if i >= warmup:
            samples.append(elapsed)
    return samples, size


def run(*, moves: int = 300, reads: int = 200, warmup: int = 30,
        state_dir: Path | None = None, with_workspace: bool = False) -> dict:
    """Start the stack, seed, measure; returns the figures (and prints a table)."""
    services = ["identity", "workspace", "boards"] if with_workspace else ["identity", "boards"]
    with ScratchArea("boards-bench-") as scratch:
        state = state_dir or scratch.mktemp("stack")
        env = {"IDENTITY_ARGON2_TIME_COST": "1", "IDENTITY_ARGON2_MEMORY_COST": "8192",
               "KANBAN_LOG_LEVEL": "WARNING"}
        # Only what boards needs: identity for real tokens (the gateway and boards verify
        # them); the project comes as workspace's event (see _project).
        with Stack(state, env=env, gateway_rates=RATES, services=services) as stack, \
                httpx.Client(base_url=stack.gateway_url, timeout=30) as api:
            owner = register_and_login(api, "bench")
            project_id = _project(stack, api, owner)
            board = _created(api, owner, "/api/v1/boards",
                             {"project_id": str(project_id), "name": "Moves"})
            small = _created(api, owner, "/api/v1/lists", {"board_id": board["id"],
                                                           "name": "10 tasks"})
            large = _created(api, owner, "/api/v1/lists", {"board_id": board["id"],
                                                           "name": "10,000 tasks"})
            reading = _created(api, owner, "/api/v1/boards",
                               {"project_id": str(project_id), "name": "1,000 tasks"})
            reading_lists = [_created(api, owner, "/api/v1/lists",
                                      {"board_id": reading["id"], "name": f"L{i}"})
                             for i in range(5)]
            progress("seeding 10 + 10,000 + 1,000 tasks")
            with psycopg.connect(stack.database_url.replace("+psycopg", "")) as conn:
                small_ids = _seed(conn, project_id, board["id"], small["id"], owner.id, 10, "s")
                large_ids = _seed(conn, project_id, board["id"], large["id"], owner.id,
                                  10_000, "l")
                for target in reading_lists:
                    _seed(conn, project_id, reading["id"], target["id"], owner.id, 200, "r")
                conn.execute("ANALYZE boards.tasks")
                conn.commit()
            progress("measuring moves")
            # Alternate rounds (a 2-core machine is noisy): small, large, small, large.
            move_small: list[float] = []
            move_large: list[float] = []
            for _ in range(2):
                move_small += _time_moves(api, owner, small["id"], small_ids, moves // 2,
                                          warmup)
                move_large += _time_moves(api, owner, large["id"], large_ids, moves // 2,
                                          warmup)
            progress("measuring board reads")
            read_samples, size = _time_reads(api, owner, reading["id"], reads, warmup)
    small_s, large_s, read_s = (_summary(move_small), _summary(move_large),
                                _summary(read_samples))
    ratio = round(large_s["p50_ms"] / small_s["p50_ms"], 3)
    result = {
        "move_task_list_of_10": small_s,
        "move_task_list_of_10000": large_s,
        "move_p50_ratio_10000_vs_10": ratio,
        "move_ratio_goal": GOAL_MOVE_RATIO,
        "move_ratio_met": ratio <= GOAL_MOVE_RATIO,
        "get_board_1000_tasks_5_lists": {**read_s, "response_bytes": size},
        "get_board_p50_goal_ms": GOAL_BOARD_P50_MS,
        "get_board_goal_met": read_s["p50_ms"] <= GOAL_BOARD_P50_MS,
    }
    print_report(result)
    return result


def print_report(result: dict) -> None:
    rows = [("move task, list of 10", result["move_task_list_of_10"]),
            ("move task, list of 10,000", result["move_task_list_of_10000"]),
            ("GET board, 1,000 tasks / 5 lists", result["get_board_1000_tasks_5_lists"])]
    print(f"\n{'boards (through the gateway)':<36}{'p50 ms':>10}{'p99 ms':>10}{'n':>7}")
    for name, figures in rows:
        print(f"{name:<36}{figures['p50_ms']:>10.2f}{figures['p99_ms']:>10.2f}"
              f"{figures['n']:>7}")
    print(f"move p50 ratio 10,000 / 10: {result['move_p50_ratio_10000_vs_10']} "
          f"(goal <= {GOAL_MOVE_RATIO}: {'met' if result['move_ratio_met'] else 'NOT met'})")
    print(f"GET board p50: {result['get_board_1000_tasks_5_lists']['p50_ms']} ms "
          f"(goal <= {GOAL_BOARD_P50_MS}: {'met' if result['get_board_goal_met'] else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--with-workspace", action="store_true",
                        help="also run workspace and create the project through it")
    args = parser.parse_args()
    run(moves=args.moves, reads=args.reads, with_workspace=args.with_workspace)


if __name__ == "__main__":
    main()
