"""Helpers of tests/resilience/test_faults.py: a small world (three users, a team, a
project, a board with three lists), a write workload that runs in background threads while a
fault happens, and the checks that compare what the HTTP answers acknowledged with the state
of every service (PostgreSQL schemas, Redis streams and groups, the SMTP sink's files).

Not a test module and not a conftest: a module of the ``tests.resilience`` package (pytest puts
the repository root on the import path), imported by name::

    from tests.resilience import faults_support as fs

Vocabulary: an operation is *acknowledged* when its HTTP answer was 2xx (the service committed
before answering); *uncertain* when it got a 5xx or no answer (the commit may or may not have
happened). Uncertain operations are *reconciled* after the fault, by reading the state back
over HTTP: each carries a unique marker (title, body, name) or moves a task's version by
exactly one, so whether it happened is always decidable. From then on it counts exactly like
an acknowledged one (or not at all)."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import functools
import importlib
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import redis
from devstack.stack import HOST, Stack
from devstack.testing import User, created, register_and_login, stream_entries
from faststream.redis.parser.binary import BinaryMessageFormatV1
from psycopg.rows import DictRow, dict_row

# Who consumes which stream (consumer group = service name). The checks demand every event
# of a stream that a group handles in that group's processed_events table (the others it
# acknowledges without recording).
STREAM_GROUPS = {
    "identity.events": ("workspace", "boards", "notifier"),
    "workspace.events": ("boards", "notifier", "scheduler"),
    "boards.events": ("notifier", "scheduler"),
    "scheduler.events": ("notifier",),
}
GROUPS = ("workspace", "boards", "notifier", "scheduler")
OUTBOX_SCHEMAS = ("identity", "workspace", "boards", "scheduler")
# /healthz of the gateway covers every service with a health endpoint (from the topology).
GATEWAY_SERVICES = ("identity", "workspace", "boards", "notifier", "scheduler")
DEAD_LETTERED = "dead letter:"   # prefix of a problem that no amount of waiting fixes
OUTAGE_ANSWER_SECONDS = 10.0   # "answers quickly" during an outage, generous for slow CI


# -- small utilities -----------------------------------------------------------------------


def wait_until(check: Callable[[], list[str]], timeout: float,
               interval: float = 0.25, *, report_every: float | None = None,
               final: Callable[[str], bool] = lambda problem: False,
               grace: float = 15.0) -> list[str]:
    """Polls ``check`` (a list of problems, empty = done) until it is empty or ``timeout``
    passes; returns the last problems (empty on success). Exceptions count as problems.
    With ``report_every``, prints what is still wrong that often (seen with ``pytest -s``
    or in a failure's captured output: where a slow settle spends its time). Once a problem
    for which ``final`` is true shows up, waiting cannot make it go away: the wait is cut to
    ``grace`` more seconds, so the report shows its consequences rather than half-drained
    queues."""
    started = time.monotonic()
    deadline = started + timeout
    next_report = started + (report_every or 0)
    while True:
        try:
            problems = check()
        except Exception as exc:  # e.g. a connection refused while a service restarts
            problems = [f"check raised {exc!r}"]
        now = time.monotonic()
        if not problems or now > deadline:
            return problems
        if any(final(p) for p in problems):
            deadline = min(deadline, now + grace)
        if report_every and now >= next_report:
            print(f"[{now - started:5.1f}s] still waiting: {problems[:3]}"[:1000])
            next_report = now + report_every
        time.sleep(interval)


def libpq(stack: Stack) -> str:
    return stack.database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def db(stack: Stack) -> psycopg.Connection[DictRow]:
    return psycopg.connect(libpq(stack), autocommit=True, row_factory=dict_row,
                           connect_timeout=3)


Row = TypeVar("Row")


def one(cursor: psycopg.Cursor[Row]) -> Row:
    """The row of a query that always returns one (an aggregate, EXISTS)."""
    row = cursor.fetchone()
    assert row is not None, "the query returned no row"
    return row


def rds(stack: Stack) -> redis.Redis:
    """A client without ``decode_responses``: keys and values come back as bytes."""
    return redis.Redis.from_url(stack.redis.url, socket_timeout=5, socket_connect_timeout=3)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def same_time(a: Any, b: Any) -> bool:
    a = parse_time(a) if isinstance(a, str) else a
    b = parse_time(b) if isinstance(b, str) else b
    return a == b


def s(value: Any) -> str | None:
    return None if value is None else str(value)


def get_all(client: httpx.Client, path: str, user: User, **params: Any) -> list[dict]:
    """Every item of a paginated collection."""
    items: list[dict] = []
    cursor = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query, headers=user.headers)
        assert response.status_code == 200, (path, response.status_code, response.text)
        body = response.json()
        items.extend(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return items


# -- the world -----------------------------------------------------------------------------


@dataclass
class World:
    tag: str
    users: dict[str, User]           # role name (alice, bob, carol) -> User
    team_id: str
    project_id: str
    board_id: str
    list_ids: list[str]
    project_name: str
    names: dict[str, str]            # user id -> full name as last acknowledged
    baseline: Baseline               # the platform before the world was made
    expected_notifications: Counter = field(default_factory=Counter)

    @property
    def owner(self) -> User:
        return self.users["alice"]

    @property
    def user_ids(self) -> list[str]:
        return [u.id for u in self.users.values()]

    def user(self, user_id: str) -> User:
        return next(u for u in self.users.values() if u.id == user_id)


def setup_world(api: httpx.Client, stack: Stack, tag: str) -> World:
    """alice owns a team with bob and carol as members, and a project where both are
    editors; a board with three lists. Returns once boards' read model knows all three roles
    (an assignee must be in it)."""
    before = baseline(stack)
    users = {name: register_and_login(api, f"{name}-{tag}") for name in ("alice", "bob",
                                                                          "carol")}
    alice = users["alice"]
    team = created(api.post("/api/v1/teams", json={"name": f"Faults {tag}"},
                            headers=alice.headers))
    expected: Counter = Counter()
    for name in ("bob", "carol"):
        created(api.post(f"/api/v1/teams/{team['id']}/members",
                         json={"email": users[name].email, "role": "member"},
                         headers=alice.headers))
        expected[("membership", users[name].id, "team", team["id"])] += 1
    project_name = f"Faults {tag}"
    project = created(api.post("/api/v1/projects",
                               json={"team_id": team["id"], "name": project_name},
                               headers=alice.headers))
    for name in ("bob", "carol"):
        created(api.post(f"/api/v1/projects/{project['id']}/members",
                         json={"user_id": users[name].id, "role": "editor"},
                         headers=alice.headers))
        expected[("membership", users[name].id, "project", project["id"])] += 1
    board = created(api.post("/api/v1/boards", json={"project_id": project["id"],
                                                     "name": "Board"}, headers=alice.headers))
    list_ids = [created(api.post("/api/v1/lists", json={"board_id": board["id"], "name": n},
                                 headers=alice.headers))["id"]
                for n in ("To do", "Doing", "Done")]
    world = World(tag=tag, users=users, team_id=team["id"], project_id=project["id"],
                  board_id=board["id"], list_ids=list_ids, project_name=project_name,
                  names={u.id: u.full_name for u in users.values()},
                  expected_notifications=expected, baseline=before)

    def roles_known() -> list[str]:
        with db(stack) as conn:
            rows = conn.execute("SELECT user_id, role FROM boards.project_members "
                                "WHERE project_id = %s", (world.project_id,)).fetchall()
        roles = {str(r["user_id"]): r["role"] for r in rows}
        want = {alice.id: "admin", users["bob"].id: "editor", users["carol"].id: "editor"}
        return [] if all(roles.get(k) == v for k, v in want.items()) else [f"roles {roles}"]

    problems = wait_until(roles_known, timeout=30)
    assert not problems, problems
    return world


# -- the workload --------------------------------------------------------------------------


@dataclass
class TaskState:
    id: str
    title: str
    created_by: str
    list_id: str
    assignee_id: str | None
    due_at: str | None
    version: int
    dirty: bool = False      # an uncertain operation touched it: left alone until reconciled


@dataclass
class Op:
    lane: int
    seq: int
    kind: str
    actor: str               # user id
    params: dict[str, Any]
    started: float           # time.monotonic()
    duration: float = 0.0
    status: int | None = None          # None: no answer (transport error or timeout)
    error: str = ""
    outcome: str = ""                  # ok | uncertain | rejected | happened | not-happened

    @property
    def ended(self) -> float:
        return self.started + self.duration


class Lane(threading.Thread):
    """One sequence of writes by the three users of ``world``, on tasks of its own (so its
    expectations never depend on another lane's timing). Lane 0 also renames users and the
    project. Stops by itself: at ``target`` operations, ``max_ops`` or ``max_seconds``."""

    WEIGHTS = {"create": 25, "move": 20, "assign": 20, "comment": 20, "due": 5,
               "rename_user": 5, "rename_project": 5}

    def __init__(self, world: World, gateway_url: str, index: int, *, seed: int,
                 max_ops: int = 400, max_seconds: float = 90.0, pace: float = 0.02,
                 weights: dict[str, int] | None = None) -> None:
        super().__init__(name=f"lane-{index}", daemon=True)
        self.world = world
        self.index = index
        self.rng = random.Random(seed)
        self.client = httpx.Client(base_url=gateway_url, timeout=15)
        self.max_ops = max_ops
        self.max_seconds = max_seconds
        self.pace = pace
        self.weights = {**self.WEIGHTS, **(weights or {})}
        self.target: int | None = None
        self.ops: list[Op] = []
        self.tasks: dict[str, TaskState] = {}
        self.comments: dict[str, dict[str, Any]] = {}     # comment id -> facts
        self.activity: Counter = Counter()                 # (verb, entity id)
        self.notifications: Counter = Counter()
        self.project_name = world.project_name
        self.names = dict(world.names)
        self.dirty_names: set[str] = set()
        self.project_dirty = False
        self.crash: BaseException | None = None
        self._halt = threading.Event()

    # -- control ---------------------------------------------------------------------------

    def stop_after(self, more: int) -> None:
        self.target = len(self.ops) + more

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        started = time.monotonic()
        try:
            while not self._halt.is_set() and len(self.ops) < self.max_ops \
                    and time.monotonic() - started < self.max_seconds \
                    and (self.target is None or len(self.ops) < self.target):
                op = self.step()
                # After a failure, back off a little instead of hammering a broken service.
                time.sleep(self.pace if op is None or op.outcome == "ok" else 0.2)
        except BaseException as exc:  # reported by the test
            self.crash = exc

    def close(self) -> None:
        self.client.close()

    # -- one operation ---------------------------------------------------------------------

    def _call(self, kind: str, actor: User, method: str, path: str,
              params: dict[str, Any], body: dict[str, Any] | None) -> tuple[Op, dict | None]:
        op = Op(lane=self.index, seq=len(self.ops), kind=kind, actor=actor.id, params=params,
                started=time.monotonic())
        self.ops.append(op)
        payload = None
        try:
            response = self.client.request(method, path, json=body, headers=actor.headers)
            op.status = response.status_code
            if response.status_code < 300:
                op.outcome = "ok"
                payload = response.json() if response.content else {}
            elif response.status_code >= 500:
                op.outcome = "uncertain"
                op.error = response.text[:300]
            else:
                op.outcome = "rejected"
                op.error = response.text[:300]
        except httpx.HTTPError as exc:
            op.outcome = "uncertain"
            op.error = repr(exc)[:300]
        op.duration = time.monotonic() - op.started
        return op, payload

    def _usable_tasks(self) -> list[TaskState]:
        return [t for t in self.tasks.values() if not t.dirty]

    def _due(self) -> str:
        # Unique per lane and operation (a due date never comes back: no double re-arm),
        # 1-11 hours ahead: inside the 24 h due-soon window, never overdue during the test.
        seconds = 3600 + self.index * 20_000 + len(self.ops) * 13
        moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)
        return iso(moment)

    def step(self) -> Op | None:
        users = list(self.world.users.values())
        actor = self.rng.choice(users)
        kinds = [k for k, w in self.weights.items()
                 if w and (k == "create" or self._usable_tasks())
                 and (k not in ("rename_user", "rename_project") or self.index == 0)]
        kind = self.rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]
        return getattr(self, f"op_{kind}")(actor)

    def op_create(self, actor: User) -> Op:
        title = f"{self.world.tag} L{self.index} #{len(self.ops)}"
        assignee = self.rng.choice([None, *self.world.user_ids])
        list_id = self.rng.choice(self.world.list_ids)
        body: dict[str, Any] = {"list_id": list_id, "title": title}
        if assignee:
            body["assignee_id"] = assignee
        if self.rng.random() < 0.5:
            body["due_at"] = self._due()
        op, task = self._call("create", actor, "POST", "/api/v1/tasks",
                              {**body, "assignee_id": assignee}, body)
        if op.outcome == "ok":
            assert task is not None
            self._created(op, task)
        return op

    def _created(self, op: Op, task: dict) -> None:
        state = TaskState(id=task["id"], title=task["title"], created_by=op.actor,
                          list_id=task["list_id"], assignee_id=task["assignee_id"],
                          due_at=task["due_at"], version=task["version"])
        self.tasks[state.id] = state
        op.params["task_id"] = state.id
        self.activity[("task.created", state.id)] += 1
        if state.assignee_id:
            self.activity[("task.assigned", state.id)] += 1
            self._assigned_notification(state, op.actor)

    def _assigned_notification(self, task: TaskState, actor: str) -> None:
        if task.assignee_id and task.assignee_id != actor:
            self.notifications[("task_assigned", task.assignee_id,
                                f"task_assigned:{task.id}:{task.version}")] += 1

    def _task_op(self, kind: str, actor: User, task: TaskState, method: str, path: str,
                 body: dict[str, Any]) -> Op:
        op, answer = self._call(kind, actor, method, path,
                                {"task_id": task.id, "from_version": task.version, **body},
                                body)
        if op.outcome == "ok":
            assert answer is not None
            self._task_changed(op, task, answer)
        elif op.outcome == "uncertain":
            task.dirty = True
        return op

    def _task_changed(self, op: Op, task: TaskState, answer: dict) -> None:
        """Applies an operation known to have happened, with the task as it was after it."""
        task.list_id = answer["list_id"]
        task.assignee_id = answer["assignee_id"]
        task.due_at = answer["due_at"]
        task.version = answer["version"]
        if op.kind == "move":
            self.activity[("task.moved", task.id)] += 1
        elif op.kind == "assign":
            verb = "task.assigned" if task.assignee_id else "task.unassigned"
            self.activity[(verb, task.id)] += 1
            self._assigned_notification(task, op.actor)
        elif op.kind == "due":
            self.activity[("task.due_date_changed", task.id)] += 1

    def op_move(self, actor: User) -> Op:
        task = self.rng.choice(self._usable_tasks())
        target = self.rng.choice([i for i in self.world.list_ids if i != task.list_id])
        return self._task_op("move", actor, task, "POST", f"/api/v1/tasks/{task.id}/move",
                             {"list_id": target})

    def op_assign(self, actor: User) -> Op:
        task = self.rng.choice(self._usable_tasks())
        choices: list[str | None] = [u for u in self.world.user_ids if u != task.assignee_id]
        if task.assignee_id is not None and self.rng.random() < 0.2:
            choices = [None]
        return self._task_op("assign", actor, task, "PATCH", f"/api/v1/tasks/{task.id}",
                             {"assignee_id": self.rng.choice(choices)})

    def op_due(self, actor: User) -> Op:
        task = self.rng.choice(self._usable_tasks())
        return self._task_op("due", actor, task, "PATCH", f"/api/v1/tasks/{task.id}",
                             {"due_at": self._due()})

    def op_comment(self, actor: User) -> Op:
        task = self.rng.choice(self._usable_tasks())
        body = f"comment {self.world.tag} L{self.index} #{len(self.ops)}"
        op, comment = self._call("comment", actor, "POST", "/api/v1/comments",
                                 {"task_id": task.id, "body": body,
                                  "assignee": task.assignee_id, "creator": task.created_by},
                                 {"task_id": task.id, "body": body})
        if op.outcome == "ok":
            assert comment is not None
            self._commented(op, comment["id"])
        return op

    def _commented(self, op: Op, comment_id: str) -> None:
        self.comments[comment_id] = {"task_id": op.params["task_id"],
                                     "body": op.params["body"], "author": op.actor}
        self.activity[("comment.created", comment_id)] += 1
        for user_id in dict.fromkeys([op.params["assignee"], op.params["creator"]]):
            if user_id and user_id != op.actor:
                self.notifications[("comment", user_id, comment_id)] += 1

    def op_rename_user(self, actor: User) -> Op | None:
        if actor.id in self.dirty_names:
            return None
        name = f"{actor.full_name} v{len(self.ops)}"
        op, answer = self._call("rename_user", actor, "PATCH", "/api/v1/users/me",
                                {"full_name": name, "before": self.names[actor.id]},
                                {"full_name": name})
        if op.outcome == "ok":
            self.names[actor.id] = name
        elif op.outcome == "uncertain":
            self.dirty_names.add(actor.id)
        return op

    def op_rename_project(self, actor: User) -> Op | None:
        if self.project_dirty:
            return None
        owner = self.world.owner   # the project's (implicit) admin
        name = f"Faults {self.world.tag} r{len(self.ops)}"
        op, _ = self._call("rename_project", owner, "PATCH",
                           f"/api/v1/projects/{self.world.project_id}",
                           {"name": name, "before": self.project_name}, {"name": name})
        if op.outcome == "ok":
            self.project_name = name
        elif op.outcome == "uncertain":
            self.project_dirty = True
        return op

    # -- after the fault ---------------------------------------------------------------------

    def reconcile(self, api: httpx.Client) -> list[str]:
        """Decides every uncertain operation from the state read back over HTTP (the fault is
        over). Returns problems: states no sequence of our operations can explain."""
        problems: list[str] = []
        world = self.world
        owner = world.owner
        for op in self.ops:
            if op.outcome != "uncertain":
                continue
            if op.kind == "create":
                found = [t for t in get_all(api, "/api/v1/tasks", owner,
                                            board_id=world.board_id, q=op.params["title"])
                         if t["title"] == op.params["title"]]
                if len(found) > 1:
                    problems.append(f"create {op.params['title']!r} happened {len(found)}x")
                if found:
                    op.outcome = "happened"
                    self._created(op, found[0])
                    self.tasks[found[0]["id"]].dirty = True   # no further ops touched it
                else:
                    op.outcome = "not-happened"
            elif op.kind in ("move", "assign", "due"):
                task = self.tasks[op.params["task_id"]]
                answer = api.get(f"/api/v1/tasks/{task.id}", headers=owner.headers)
                assert answer.status_code == 200, answer.text
                current = answer.json()
                if current["version"] == op.params["from_version"] + 1:
                    op.outcome = "happened"
                    self._task_changed(op, task, current)
                elif current["version"] == op.params["from_version"]:
                    op.outcome = "not-happened"
                else:
                    problems.append(f"{op.kind} on {task.id}: version {current['version']} "
                                    f"after an uncertain change from {op.params['from_version']}")
            elif op.kind == "comment":
                found = [c for c in get_all(api, "/api/v1/comments", owner,
                                            task_id=op.params["task_id"])
                         if c["body"] == op.params["body"]]
                if len(found) > 1:
                    problems.append(f"comment {op.params['body']!r} stored {len(found)}x")
                if found:
                    op.outcome = "happened"
                    self._commented(op, found[0]["id"])
                else:
                    op.outcome = "not-happened"
            elif op.kind == "rename_user":
                me = world.user(op.actor)
                name = api.get("/api/v1/users/me", headers=me.headers).json()["full_name"]
                if name not in (op.params["full_name"], op.params["before"]):
                    problems.append(f"user {op.actor} is named {name!r}")
                op.outcome = "happened" if name == op.params["full_name"] else "not-happened"
                self.names[op.actor] = name
            elif op.kind == "rename_project":
                answer = api.get(f"/api/v1/projects/{world.project_id}",
                                 headers=owner.headers).json()
                if answer["name"] not in (op.params["name"], op.params["before"]):
                    problems.append(f"project is named {answer['name']!r}")
                op.outcome = "happened" if answer["name"] == op.params["name"] \
                    else "not-happened"
                self.project_name = answer["name"]
        return problems


class Workload:
    """``lanes`` lanes over one world, started together; see :class:`Lane`."""

    def __init__(self, world: World, gateway_url: str, *, lanes: int = 2, seed: int,
                 **lane_options: Any) -> None:
        self.world = world
        self.seed = seed
        self.lanes = [Lane(world, gateway_url, i, seed=seed * 10 + i, **lane_options)
                      for i in range(lanes)]

    def __enter__(self) -> Workload:
        for lane in self.lanes:
            lane.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for lane in self.lanes:
            lane.stop()
        for lane in self.lanes:
            lane.join(30)
            lane.close()

    @property
    def ops(self) -> list[Op]:
        return sorted((op for lane in self.lanes for op in lane.ops), key=lambda o: o.started)

    def count(self) -> int:
        return sum(len(lane.ops) for lane in self.lanes)

    def wait_for_ops(self, n: int, timeout: float = 60) -> None:
        """Blocks until the lanes have made ``n`` operations in all (from now on)."""
        goal = self.count() + n
        deadline = time.monotonic() + timeout
        while self.count() < goal:
            assert time.monotonic() < deadline, f"workload stalled at {self.count()} ops"
            assert all(lane.is_alive() or lane.crash is None for lane in self.lanes), \
                [lane.crash for lane in self.lanes]
            time.sleep(0.02)

    def finish(self, more: int, timeout: float = 90) -> None:
        """Lets every lane make ``more`` operations, then waits for all to stop."""
        for lane in self.lanes:
            lane.stop_after(more)
        for lane in self.lanes:
            lane.join(timeout)
            assert not lane.is_alive(), f"{lane.name} did not finish"
        crashes = [lane.crash for lane in self.lanes if lane.crash]
        assert not crashes, crashes

    def rejected(self) -> list[Op]:
        return [op for op in self.ops if op.outcome == "rejected"]

    def reconcile(self, api: httpx.Client) -> list[str]:
        return [p for lane in self.lanes for p in lane.reconcile(api)]

    def summary(self) -> str:
        outcomes = Counter(op.outcome for op in self.ops)
        kinds = Counter(op.kind for op in self.ops)
        return f"seed={self.seed} ops={len(self.ops)} {dict(outcomes)} {dict(kinds)}"

    # -- what the world should look like -----------------------------------------------------

    @property
    def tasks(self) -> dict[str, TaskState]:
        return {k: v for lane in self.lanes for k, v in lane.tasks.items()}

    @property
    def comments(self) -> dict[str, dict[str, Any]]:
        return {k: v for lane in self.lanes for k, v in lane.comments.items()}

    def expected_activity(self) -> Counter:
        return sum((lane.activity for lane in self.lanes), Counter())

    def expected_notifications(self) -> Counter:
        return sum((lane.notifications for lane in self.lanes),
                   Counter(self.world.expected_notifications))

    def expected_names(self) -> dict[str, str]:
        return self.lanes[0].names

    def expected_project_name(self) -> str:
        return self.lanes[0].project_name


# -- faults --------------------------------------------------------------------------------


def consumer_name(process: subprocess.Popen) -> str:
    """chassis.consumer names a consumer <hostname>-<pid>."""
    return f"{socket.gethostname()}-{process.pid}"


def kill_when(process: subprocess.Popen, ready: Callable[[], bool],
              timeout: float = 5.0) -> bool:
    """SIGKILLs ``process`` as soon as ``ready()`` (polled every few ms) is true, or at the
    deadline; returns whether the condition was met. Waits for the process to be gone."""
    deadline = time.monotonic() + timeout
    met = False
    while time.monotonic() < deadline:
        try:
            if ready():
                met = True
                break
        except Exception:
            pass
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL, process.returncode
    return met


def holds_pending(stack: Stack, group: str, process: subprocess.Popen) -> Callable[[], bool]:
    """True while ``process`` (a consumer of ``group``) has a delivered, unacknowledged
    message: killing it then leaves that message pending under a dead consumer's name."""
    client = rds(stack)
    name = consumer_name(process).encode()
    streams = [s for s, groups in STREAM_GROUPS.items() if group in groups]

    def check() -> bool:
        for stream in streams:
            summary = client.xpending(stream, group)
            for consumer in summary.get("consumers") or []:
                if consumer["name"] == name and int(consumer["pending"]) > 0:
                    return True
        return False

    return check


def republish_last(stack: Stack, stream: str) -> None:
    """XADDs the last entry of ``stream`` again: what a relay does when it dies between
    publishing a batch and deleting it from the outbox (at-least-once). Used to have an event
    certainly arrive while a consumer's database is away."""
    client = rds(stack)
    [(_, fields)] = stream_entries(client.xrevrange(stream, count=1))
    client.xadd(stream, {key: value for key, value in fields.items()})
    client.close()


def outbox_not_empty(stack: Stack, schema: str) -> Callable[[], bool]:
    conn = psycopg.connect(libpq(stack), autocommit=True)

    def check() -> bool:
        exists: bool = one(conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{schema}".outbox)'))[0]
        return exists

    return check


def mail_in_flight(stack: Stack) -> Callable[[], bool]:
    conn = psycopg.connect(libpq(stack), autocommit=True)

    def check() -> bool:
        exists: bool = one(conn.execute("SELECT EXISTS (SELECT 1 FROM notifier.email_outbox "
                                        "WHERE status = 'sending')"))[0]
        return exists

    return check


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def readiness(stack: Stack) -> dict[str, int]:
    statuses = {}
    for name, svc in stack.services.items():
        try:
            statuses[name] = httpx.get(f"{svc.url}/health/ready", timeout=5).status_code
        except httpx.HTTPError:
            statuses[name] = 0
    return statuses


def all_ready(stack: Stack, api: httpx.Client) -> list[str]:
    problems = [f"{n} ready={c}" for n, c in readiness(stack).items() if c != 200]
    healthz = api.get("/healthz")
    if healthz.status_code != 200:
        problems.append(f"/healthz {healthz.status_code} {healthz.text[:200]}")
    return problems


# -- the checks ----------------------------------------------------------------------------


@functools.cache
def handled_types(group: str) -> frozenset[str]:
    """The event types the consumer of ``group`` (a service) has a handler for."""
    consumer = importlib.import_module(f"{group}.main").WORKERS["consumer"]()
    return frozenset(consumer.handlers)


def stream_events(client: redis.Redis, stream: str, after: str | None = None) -> list[dict]:
    """The envelopes in ``stream`` (after entry ``after``), FastStream's framing removed."""
    events = []
    for _, fields in stream_entries(client.xrange(stream, min=f"({after}" if after else "-")):
        body, _headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
        events.append(json.loads(body))
    return events


_MESSAGE_IDS: dict[Path, str] = {}   # .eml files never change once written (atomic rename)


def eml_message_ids(mail_dir: Path) -> Counter:
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    for path in mail_dir.glob("*.eml"):
        if path not in _MESSAGE_IDS:
            with path.open("rb") as handle:
                _MESSAGE_IDS[path] = str(parser.parse(handle)["Message-ID"]).strip()
    return Counter(v for k, v in _MESSAGE_IDS.items() if k.parent == mail_dir)


def resent_after_lease(stack: Stack) -> set[str]:
    """Message-IDs the mailer logged as sent again, after a dead mailer's lease ran out or
    after a send whose answer it did not get (the server may have accepted it): the
    documented windows where the same message (same Message-ID and Date) may arrive twice."""
    # The mailer's own log with split roles; the one process's log as `make run` runs it.
    logs = [stack.state_dir / "logs" / name for name in ("notifier-mailer.log", f"{HOST}.log")]
    ids = set()
    lines = [line for log in logs if log.exists()
             for line in log.read_text(errors="replace").splitlines()]
    for line in lines:
        if "email_resend_after_lease" in line or "email_retry_scheduled" in line:
            with contextlib.suppress(ValueError, KeyError):
                ids.add(json.loads(line)["message_id"])
    return ids


@dataclass
class Baseline:
    """Where the platform stood when a test began: its checks judge only what came after,
    so a test that failed (say, left a dead letter) does not fail every later one."""

    stream_ids: dict[str, str | None]
    dead_letters: dict[str, int]
    email_id: int
    eml_files: frozenset[Path]


def baseline(stack: Stack) -> Baseline:
    client = rds(stack)
    last = {}
    for stream in STREAM_GROUPS:
        entries = stream_entries(client.xrevrange(stream, count=1))
        last[stream] = entries[0][0].decode() if entries else None
    dead = {group: client.xlen(f"{group}.dead-letter") for group in GROUPS}
    client.close()
    with db(stack) as conn:
        email_id = one(conn.execute("SELECT coalesce(max(id), 0) AS n "
                                    "FROM notifier.email_outbox"))["n"]
    return Baseline(stream_ids=last, dead_letters=dead, email_id=email_id,
                    eml_files=frozenset(stack.smtp.mail_dir.glob("*.eml")))


def pipeline_problems(stack: Stack, since: Baseline, *,
                      allowed_duplicate_mail: Iterable[str] = ()) -> list[str]:
    """Platform invariants once traffic has stopped, for everything since ``since``: every
    outbox drained, nothing pending or undelivered in any group, no new dead letter, every
    new event of every stream processed by every consuming group, every new e-mail sent and
    received exactly once (by Message-ID)."""
    problems: list[str] = []
    client = rds(stack)
    with db(stack) as conn:
        for schema in OUTBOX_SCHEMAS:
            n = one(conn.execute(f'SELECT count(*) AS n FROM "{schema}".outbox'))["n"]
            if n:
                problems.append(f"{schema}.outbox holds {n} unpublished events")
        for stream, groups in STREAM_GROUPS.items():
            info = {g["name"].decode(): g for g in client.xinfo_groups(stream)}
            for group in groups:
                if group not in info:
                    problems.append(f"no group {group} on {stream}")
                    continue
                pending = client.xpending(stream, group)["pending"]
                if pending:
                    problems.append(f"{stream}/{group}: {pending} pending")
                if info[group].get("lag"):
                    problems.append(f"{stream}/{group}: {info[group]['lag']} not delivered")
        for group in GROUPS:
            dead = stream_entries(client.xrange(f"{group}.dead-letter"))[
                since.dead_letters[group]:]
            if dead:
                first = {k.decode(): v.decode()[:300] for k, v in dead[0][1].items()
                         if k != b"body"}
                problems.append(f"{DEAD_LETTERED} {group}.dead-letter got {len(dead)}: "
                                f"first {first}")
        if problems:
            return problems   # the expensive comparisons only once the pipes are empty
        for stream, groups in STREAM_GROUPS.items():
            after = since.stream_ids[stream]
            events = stream_events(client, stream, after)
            for group in groups:
                # A consumer records the events it handles; the others it only acknowledges.
                handled = handled_types(group)
                ids = list({e["event_id"] for e in events if e["type"] in handled})
                done = {str(r["event_id"]) for r in conn.execute(
                    f'SELECT event_id FROM "{group}".processed_events '
                    "WHERE event_id = ANY(%s::uuid[])", (ids,))}
                missing = set(ids) - done
                if missing:
                    problems.append(f"{group} never processed {len(missing)} events of "
                                    f"{stream}, e.g. {sorted(missing)[:3]}")
        statuses = {r["status"]: r["n"] for r in conn.execute(
            "SELECT status, count(*) AS n FROM notifier.email_outbox WHERE id > %s "
            "GROUP BY status", (since.email_id,))}
        unsent = {k: v for k, v in statuses.items() if k != "sent"}
        if unsent:
            problems.append(f"e-mails not sent: {unsent}")
            return problems
        sent_since = {r["message_id"] for r in conn.execute(
            "SELECT message_id FROM notifier.email_outbox WHERE id > %s", (since.email_id,))}
        all_sent = {r["message_id"] for r in conn.execute(
            "SELECT message_id FROM notifier.email_outbox WHERE status = 'sent'")}
    client.close()
    received = eml_message_ids(stack.smtp.mail_dir)
    new = {_MESSAGE_IDS[p] for p in stack.smtp.mail_dir.glob("*.eml")
           if p not in since.eml_files}
    allowed = set(allowed_duplicate_mail)
    duplicated = {m: received[m] for m in new if received[m] > 1 and m not in allowed}
    if duplicated:
        problems.append(f"{len(duplicated)} e-mails received more than once: "
                        f"{list(duplicated.items())[:3]}")
    if new - all_sent:
        problems.append(f"{len(new - all_sent)} e-mails received that no row says were sent")
    if sent_since - set(received):
        problems.append(f"{len(sent_since - set(received))} e-mails marked sent but never "
                        "received")
    return problems


def world_problems(stack: Stack, workload: Workload) -> list[str]:
    """The world's state in every service's database against the acknowledged writes."""
    world = workload.world
    tasks = workload.tasks
    problems: list[str] = []
    with db(stack) as conn:
        # boards: the tasks themselves.
        rows = {str(r["id"]): r for r in conn.execute(
            "SELECT id, list_id, assignee_id, due_at, version, title FROM boards.tasks "
            "WHERE project_id = %s", (world.project_id,))}
        if set(rows) != set(tasks):
            problems.append(f"boards.tasks: {len(set(rows) - set(tasks))} unexpected, "
                            f"missing {sorted(set(tasks) - set(rows))[:5]}")
        for task_id, task in tasks.items():
            row = rows.get(task_id)
            if row is None:
                continue
            if (s(row["list_id"]), s(row["assignee_id"]), row["version"], row["title"]) != \
                    (task.list_id, task.assignee_id, task.version, task.title) \
                    or not same_time(row["due_at"], task.due_at):
                problems.append(f"boards task {task_id}: {dict(row)} != {task}")
        # boards: one activity entry per change, and each entry is an event of the stream.
        activity = Counter((r["verb"], str(r["entity_id"])) for r in conn.execute(
            "SELECT verb, entity_id FROM boards.activity WHERE project_id = %s "
            "AND (verb LIKE 'task.%%' OR verb LIKE 'comment.%%')", (world.project_id,)))
        expected = workload.expected_activity()
        if activity != expected:
            problems.append(f"boards.activity differs: extra {dict(activity - expected)}, "
                            f"missing {dict(expected - activity)}")
        # An entry's id is its event's id: each must have reached both boards consumers
        # (those whose type the consumer handles: it records only those).
        for group in STREAM_GROUPS["boards.events"]:
            unseen = conn.execute(
                "SELECT a.verb, a.id FROM boards.activity a WHERE a.project_id = %s "
                "AND (a.verb LIKE 'task.%%' OR a.verb LIKE 'comment.%%') "
                "AND a.verb = ANY(%s) AND NOT EXISTS "
                f'(SELECT 1 FROM "{group}".processed_events p WHERE p.event_id = a.id)',
                (world.project_id, sorted(handled_types(group)))).fetchall()
            if unseen:
                problems.append(f"{len(unseen)} boards events never processed by {group}: "
                                f"{[(r['verb'], str(r['id'])) for r in unseen[:3]]}")
        # notifier: its copy of the tasks, and exactly the notifications the writes call for.
        copies = {str(r["task_id"]): r for r in conn.execute(
            "SELECT task_id, assignee_id, version, deleted FROM notifier.tasks "
            "WHERE project_id = %s", (world.project_id,))}
        for task_id, task in tasks.items():
            copy = copies.get(task_id)
            if copy is None or (s(copy["assignee_id"]), copy["version"], copy["deleted"]) != \
                    (task.assignee_id, task.version, False):
                problems.append(f"notifier.tasks {task_id}: {copy and dict(copy)} vs {task}")
        notes = conn.execute(
            "SELECT n.id, n.user_id, n.type, n.data, n.dedupe_key, e.status, e.message_id "
            "FROM notifier.notifications n LEFT JOIN notifier.email_outbox e "
            "ON e.notification_id = n.id WHERE n.user_id = ANY(%s::uuid[])",
            (world.user_ids,)).fetchall()
        actual: Counter = Counter()
        reminders: Counter = Counter()
        for n in notes:
            user, data = str(n["user_id"]), n["data"]
            if n["type"] == "task_assigned":
                actual[("task_assigned", user, n["dedupe_key"])] += 1
            elif n["type"] == "comment":
                actual[("comment", user, data["comment_id"])] += 1
            elif n["type"] == "membership":
                actual[("membership", user, data["kind"],
                        data.get("project_id") if data["kind"] == "project"
                        else data["team_id"])] += 1
            else:
                reminders[(n["type"], data["task_id"], parse_time(data["due_at"]))] += 1
            if n["status"] != "sent":
                problems.append(f"notification {n['id']} ({n['type']}): e-mail {n['status']}")
        expected_notes = workload.expected_notifications()
        if actual != expected_notes:
            problems.append(f"notifications differ: extra {dict(actual - expected_notes)}, "
                            f"missing {dict(expected_notes - actual)}")
        # scheduler: its copy; and one reminder per task and due date (none twice).
        tracked = {str(r["task_id"]): r for r in conn.execute(
            "SELECT task_id, list_id, assignee_id, due_at, version, deleted, "
            "due_soon_sent_for FROM scheduler.tracked_tasks WHERE project_id = %s",
            (world.project_id,))}
        for task_id, task in tasks.items():
            row = tracked.get(task_id)
            if row is None or (s(row["list_id"]), s(row["assignee_id"]), row["version"],
                               row["deleted"]) != (task.list_id, task.assignee_id,
                                                   task.version, False) \
                    or not same_time(row["due_at"], task.due_at):
                problems.append(f"scheduler.tracked_tasks {task_id}: "
                                f"{row and dict(row)} vs {task}")
            if task.due_at and task.assignee_id and \
                    reminders[("due_soon", task_id, parse_time(task.due_at))] != 1:
                problems.append(f"task {task_id} due {task.due_at} assigned: "
                                f"{reminders[('due_soon', task_id, parse_time(task.due_at))]}"
                                " due-soon reminders")
        twice = {k: v for k, v in reminders.items() if v > 1}
        if twice:
            problems.append(f"reminders sent twice: {twice}")
        # Read models of names: workspace, boards and notifier agree with identity.
        names = workload.expected_names()
        for table, key in (("workspace.user_directory", "user_id"), ("boards.users", "id"),
                           ("notifier.users", "user_id")):
            seen = {str(r["uid"]): r["full_name"] for r in conn.execute(
                f"SELECT {key} AS uid, full_name FROM {table} WHERE {key} = ANY(%s::uuid[])",
                (world.user_ids,))}
            if seen != names:
                problems.append(f"{table}: {seen} != {names}")
        project = conn.execute("SELECT name FROM boards.projects WHERE id = %s",
                               (world.project_id,)).fetchone()
        if project is None or project["name"] != workload.expected_project_name():
            problems.append(f"boards.projects name {project} != "
                            f"{workload.expected_project_name()!r}")
    return problems


def http_problems(api: httpx.Client, workload: Workload) -> list[str]:
    """What users see through the gateway: every acknowledged write, nothing else."""
    world = workload.world
    owner = world.owner
    problems: list[str] = []
    tasks = {t["id"]: t for t in get_all(api, "/api/v1/tasks", owner, board_id=world.board_id)}
    expected = workload.tasks
    if set(tasks) != set(expected):
        problems.append(f"GET /tasks: {len(set(tasks) - set(expected))} unexpected, "
                        f"missing {sorted(set(expected) - set(tasks))[:5]}")
    for task_id, state in expected.items():
        seen = tasks.get(task_id)
        if seen and ((seen["list_id"], seen["assignee_id"], seen["version"], seen["title"])
                     != (state.list_id, state.assignee_id, state.version, state.title)
                     or not same_time(seen["due_at"], state.due_at)):
            problems.append(f"GET /tasks {task_id}: {seen} vs {state}")
    comments = workload.comments
    by_task: dict[str, set[str]] = {}
    for comment_id, facts in comments.items():
        by_task.setdefault(facts["task_id"], set()).add(comment_id)
    for task_id in expected:
        seen_comments = {c["id"] for c in get_all(api, "/api/v1/comments", owner,
                                                   task_id=task_id)}
        if seen_comments != by_task.get(task_id, set()):
            problems.append(f"GET /comments?task_id={task_id}: {seen_comments} vs "
                            f"{by_task.get(task_id, set())}")
    activity = get_all(api, "/api/v1/activity", owner, project_id=world.project_id)
    seen_activity = Counter((a["verb"], a["entity_id"]) for a in activity
                            if a["verb"].startswith(("task.", "comment.")))
    if seen_activity != workload.expected_activity():
        problems.append("GET /activity differs from the acknowledged writes")
    expected_notes = workload.expected_notifications()
    for user in world.users.values():
        items = get_all(api, "/api/v1/notifications", user)
        mine = sum(n for k, n in expected_notes.items() if k[1] == user.id)
        reminders = [i for i in items if i["type"] in ("due_soon", "overdue")]
        if len(items) - len(reminders) != mine:
            problems.append(f"GET /notifications for {user.full_name}: "
                            f"{len(items) - len(reminders)} != {mine}")
        if len({i["id"] for i in items}) != len(items):
            problems.append(f"GET /notifications for {user.full_name} repeats an item")
        if any(i["email_status"] != "sent" for i in items):
            problems.append(f"GET /notifications for {user.full_name}: e-mail not sent")
        me = api.get("/api/v1/users/me", headers=user.headers).json()
        if me["full_name"] != workload.expected_names()[user.id]:
            problems.append(f"GET /users/me {me['full_name']!r}")
    project = api.get(f"/api/v1/projects/{world.project_id}", headers=owner.headers).json()
    if project["name"] != workload.expected_project_name():
        problems.append(f"GET /projects name {project['name']!r}")
    return problems


def new_tag() -> str:
    return uuid.uuid4().hex[:6]
