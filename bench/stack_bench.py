"""The whole stack under load, measured with wrk against a bare nginx proxy in the same run:

  * GET /api/v1/users/me end to end (gateway -> identity), authenticated GET
    /api/v1/tasks/{id} (gateway -> boards -> PostgreSQL) and POST /api/v1/tasks, each as a
    ratio of a bare nginx proxy's requests/s (a trivial upstream, same machine) and of the
    floor (bench/floor_app.py: a minimal FastAPI app returning one row from the same
    PostgreSQL behind the same proxy, with as many processes), with 1 and 2 API processes;
  * a mixed load: 50 connections ("virtual users") for 60 s of reads and writes
    (task and board reads, task edits, comments) with throughput, p50/p99 and errors;
  * resident memory (RSS) of the services' process at rest and after the load.

    uv run python bench/stack_bench.py [--mixed-seconds 60] [--users 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from chassis.serve import api_processes  # noqa: E402
from devstack.gateway import Gateway  # noqa: E402
from devstack.infra import (  # noqa: E402
    ScratchArea,
    free_port,
    progress,
    spawn,
    stop_process,
    wait_for_port,
)
from devstack.stack import Stack  # noqa: E402
from devstack.testing import register_and_login  # noqa: E402
from gateway_bench import TrivialUpstream, run_wrk  # noqa: E402
from memory_bench import rss_by_name  # noqa: E402

RATES = {"auth_rate": "100000r/s", "auth_burst": 100000, "api_rate": "1000000r/s",
         "api_burst": 1000000}
FAST_HASHING = {"IDENTITY_ARGON2_TIME_COST": "1", "IDENTITY_ARGON2_MEMORY_COST": "8192"}


def wrk_through(gateway: Gateway, path: str, duration: float, connections: int) -> dict:
    """Starts ``gateway``, warms up, then one measured wrk run of GET ``path`` through it;
    stops it."""
    try:
        gateway.start()
        url = gateway.url + path
        run_wrk(url, duration=2, connections=connections)
        return run_wrk(url, duration=duration, connections=connections)
    finally:
        gateway.stop()


def bare_proxy_rps(state: Path, duration: float, connections: int) -> dict:
    """(baseline) a bare nginx proxy to a trivial upstream: the gateway's public route."""
    upstream = TrivialUpstream(state / "upstream", {"keys": []}).start()
    gateway = Gateway(state / "bare-gateway", {"boards": upstream.address}, workers="1",
                      **RATES)
    try:
        return wrk_through(gateway, "/docs/boards/openapi.json", duration, connections)
    finally:
        upstream.stop()


def seed(api: httpx.Client) -> dict:
    """A user with a team, a project, a board, a list and some tasks to read and write."""
    user = register_and_login(api, "bench")
    h = user.headers

    def created(path: str, body: dict) -> dict:
        response = api.post(path, json=body, headers=h)
        response.raise_for_status()
        return response.json()

    team = created("/api/v1/teams", {"name": "Bench team"})
    project = created("/api/v1/projects", {"team_id": team["id"], "name": "Bench"})
    board = created("/api/v1/boards", {"project_id": project["id"], "name": "Board"})
    lst = created("/api/v1/lists", {"board_id": board["id"], "name": "To do"})
    tasks = [created("/api/v1/tasks", {"list_id": lst["id"], "title": f"Task {i}",
                                       "assignee_id": user.id})["id"] for i in range(20)]
    return {"token": user.access_token, "board": board["id"], "list": lst["id"],
            "tasks": tasks, "user": user, "team": team["id"], "project": project["id"]}


MIXED_SCRIPT = """
local tasks = {%(tasks)s}
local board = "%(board)s"
local n = 0
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local task = tasks[(n %% #tasks) + 1]
  local kind = n %% 10
  if kind < 5 then
    return wrk.format("GET", "/api/v1/tasks/" .. task)
  elseif kind < 7 then
    return wrk.format("GET", "/api/v1/boards/" .. board)
  elseif kind < 8 then
    return wrk.format("GET", "/api/v1/comments?task_id=" .. task .. "&limit=20")
  elseif kind < 9 then
    return wrk.format("PATCH", "/api/v1/tasks/" .. task,
                      nil, '{"title": "Task edited ' .. n .. '"}')
  else
    return wrk.format("POST", "/api/v1/comments", nil,
                      '{"task_id": "' .. task .. '", "body": "load comment ' .. n .. '"}')
  end
end
"""


def assignment_to_email(api: httpx.Client, stack: Stack, data: dict, assignments: int) -> dict:
    """p50/p99 from the PATCH that assigns a task (response received) to the e-mail accepted
    by the SMTP server (the sink names each file by its acceptance time in ns)."""
    assigner = data["user"]
    others = [register_and_login(api, f"assignee{i}") for i in range(2)]
    project_id = data["project"]
    for other in others:  # both must be in the project to be assignable
        team_add = api.post(f"/api/v1/teams/{data['team']}/members",
                            json={"email": other.email, "role": "member"},
                            headers=assigner.headers)
        team_add.raise_for_status()
        api.post(f"/api/v1/projects/{project_id}/members",
                 json={"user_id": other.id, "role": "editor"},
                 headers=assigner.headers).raise_for_status()
    task = data["tasks"][-1]
    mail_dir = stack.smtp.mail_dir
    latencies = []
    for n in range(assignments):
        before = {p.name for p in mail_dir.glob("*.eml")}
        response = api.patch(f"/api/v1/tasks/{task}", json={"assignee_id": others[n % 2].id},
                             headers=assigner.headers)
        answered_ns = time.time_ns()
        response.raise_for_status()
        deadline = time.monotonic() + 10
        while not (new := {p.name for p in mail_dir.glob("*.eml")} - before):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no e-mail for assignment {n} within 10 s")
            time.sleep(0.002)
        accepted_ns = min(int(name.split("-", 1)[0]) for name in new)
        latencies.append(max(0.0, (accepted_ns - answered_ns) / 1e6))
    latencies.sort()
    return {"n": len(latencies), "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1)}


def floor_rps(state: Path, stack: Stack, data: dict, processes: int, duration: float,
              connections: int) -> dict:
    """(baseline) bench/floor_app.py with ``processes`` uvicorn workers behind a bare nginx
    proxy: one row of boards.tasks from the stack's PostgreSQL per request."""
    port = free_port()
    env = {"FLOOR_DATABASE_URL": stack.postgres.url("kanban").replace("+psycopg", ""),
           "FLOOR_TASK_ID": data["tasks"][0],
           "PYTHONPATH": str(Path(__file__).parent)}
    app = spawn([sys.executable, "-m", "uvicorn", "floor_app:app", "--host", "127.0.0.1",
                 "--port", str(port), "--workers", str(processes), "--no-access-log",
                 "--log-level", "warning"], log_path=state / f"floor-{processes}.log", env=env)
    gateway = Gateway(state / f"floor-gateway-{processes}", {"boards": f"127.0.0.1:{port}"},
                      **RATES)
    try:
        wait_for_port(port, 30, app, "floor app")
        return wrk_through(gateway, "/docs/boards/floor", duration, connections)
    finally:
        stop_process(app)


def post_task_script(state: Path, data: dict) -> Path:
    script = state / "post-task.lua"
    script.write_text(textwrap.dedent(f"""
        wrk.method = "POST"
        wrk.headers["Authorization"] = "Bearer {data['token']}"
        wrk.headers["Content-Type"] = "application/json"
        wrk.body = '{{"list_id": "{data['list']}", "title": "Bench task"}}'
    """))
    return script


def read_and_write_cases(state: Path, stack: Stack, data: dict, processes: int,
                         duration: float, connections: int, bare: dict) -> dict:
    """GET /users/me, GET a task and POST a task, each against the bare proxy and the floor
    (measured now, with as many processes), the stack serving its APIs from ``processes``."""
    floor = floor_rps(state, stack, data, processes, duration, connections)
    out: dict = {"floor": floor}
    auth = {"Authorization": f"Bearer {data['token']}"}
    post = post_task_script(state, data)
    for name, path, script in (("users_me", "/api/v1/users/me", None),
                               ("task_get", f"/api/v1/tasks/{data['tasks'][0]}", None),
                               ("task_post", "/api/v1/tasks", post)):
        progress(f"wrk {'POST' if script else 'GET'} {path} ({processes} API processes)")
        url = stack.gateway_url + path
        run_wrk(url, headers=auth, duration=2, connections=connections, script=script)
        r = run_wrk(url, headers=auth, duration=duration, connections=connections,
                    script=script)
        r["ratio_to_bare"] = round(r["rps"] / bare["rps"], 4)
        r["ratio_to_floor"] = round(r["rps"] / floor["rps"], 3)
        out[name] = r
    return out


def run(*, duration: float = 10, connections: int = 32, mixed_seconds: float = 60,
        users: int = 50, assignments: int = 200) -> dict:
    state = ScratchArea("stack-bench-").root
    result: dict = {"by_processes": {}}
    progress("baseline: bare nginx proxy")
    result["bare"] = bare_proxy_rps(state, duration, connections)
    default = api_processes(None)   # what make run does here
    for processes in sorted({1, 2, default}):
        progress(f"whole stack with {processes} API process(es)")
        with Stack(state / f"stack-{processes}", env=FAST_HASHING, gateway_rates=RATES,
                   crash_safe=False, api_processes=processes) as stack:
            with httpx.Client(base_url=stack.gateway_url, timeout=30) as api:
                data = seed(api)
            result["by_processes"][processes] = read_and_write_cases(
                state, stack, data, processes, duration, connections, result["bare"])
            if processes != default:
                continue
            # A fresh board for what follows: the POST case above filled the first one's
            # list with a thousand tasks, which every board read would then return.
            with httpx.Client(base_url=stack.gateway_url, timeout=30) as api:
                data = seed(api)
            pids = stack.python_pids()
            result["rss_at_rest_mib"] = rss_by_name(pids)
            progress(f"assignment -> e-mail: {assignments} assignments")
            with httpx.Client(base_url=stack.gateway_url, timeout=30) as api:
                result["assignment_email"] = assignment_to_email(api, stack, data, assignments)
            script = state / "mixed.lua"
            script.write_text(textwrap.dedent(MIXED_SCRIPT % {
                "tasks": ", ".join(f'"{t}"' for t in data["tasks"]), "board": data["board"],
                "token": data["token"]}))
            progress(f"mixed load: {users} connections for {mixed_seconds:.0f}s")
            result["mixed"] = run_wrk(stack.gateway_url + "/", duration=mixed_seconds,
                                      connections=users, threads=2, script=script)
            result["rss_after_mib"] = rss_by_name(pids)
    result["default_processes"] = default
    # The figures of the default layout, where the rest of the report looks for them.
    result.update(result["by_processes"][default])
    result["settings"] = {"duration_s": duration, "connections": connections,
                          "mixed_seconds": mixed_seconds, "users": users}
    return result


def print_report(result: dict) -> None:
    bare = result["bare"]
    print("\nWhole stack (wrk; ratios against a bare nginx proxy and the floor app, both "
          "measured in the same run)")
    print(f"  {'case':<40}{'procs':>6}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'x bare':>8}"
          f"{'x floor':>8}")
    print(f"  {'bare nginx proxy (baseline)':<40}{'':>6}{bare['rps']:>9.0f}"
          f"{bare['p50_ms']:>8.2f}{bare['p99_ms']:>8.2f}{1:>8.2f}")
    for processes, cases in sorted(result["by_processes"].items()):
        f = cases["floor"]
        print(f"  {'floor: minimal FastAPI + one row':<40}{processes:>6}{f['rps']:>9.0f}"
              f"{f['p50_ms']:>8.2f}{f['p99_ms']:>8.2f}{f['rps'] / bare['rps']:>8.3f}"
              f"{1:>8.2f}")
        for key, label in (("users_me", "GET /api/v1/users/me"),
                           ("task_get", "GET /api/v1/tasks/{id}"),
                           ("task_post", "POST /api/v1/tasks")):
            r = cases[key]
            print(f"  {label:<40}{processes:>6}{r['rps']:>9.0f}{r['p50_ms']:>8.2f}"
                  f"{r['p99_ms']:>8.2f}{r['ratio_to_bare']:>8.3f}{r['ratio_to_floor']:>8.2f}")
    a = result["assignment_email"]
    print(f"  assignment PATCH answered -> e-mail accepted by SMTP, {a['n']} assignments: "
          f"p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms")
    m = result["mixed"]
    errors = m["non_2xx"] + (1 if m["socket_errors"] else 0)
    print(f"  mixed load, {result['settings']['users']} users x "
          f"{result['settings']['mixed_seconds']:.0f}s: {m['rps']:.0f} req/s, p50 "
          f"{m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms, {m['requests']} requests, "
          f"errors: {m['non_2xx']} non-2xx, socket errors: {m['socket_errors'] or 'none'}"
          f"{'' if errors else ' (zero errors)'}")
    print("  resident memory (MiB), at rest -> after the load:")
    for name, at_rest in sorted(result["rss_at_rest_mib"].items()):
        print(f"    {name:<24}{at_rest:>8.1f} -> {result['rss_after_mib'].get(name, 0):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--mixed-seconds", type=float, default=60)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(duration=args.duration, mixed_seconds=args.mixed_seconds, users=args.users)
    print_report(result)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
