"""Migrations, health and docs of the scheduler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from chassis.migrations import current_revision, head_revision
from devstack.pytest_plugin import asgi_client
from scheduler.main import create_app

SERVICE_DIR = Path(__file__).resolve().parents[1]


def test_migrations_reach_head(db):
    with db.connect() as conn:
        assert current_revision(conn, "scheduler") == head_revision("scheduler") == "0001"
        tables = set(sa.inspect(conn).get_table_names(schema="scheduler"))
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("tracked_tasks",
                                                                    schema="scheduler")}
    assert {"tracked_tasks", "outbox", "processed_events", "alembic_version"} <= tables
    assert {"ix_tracked_tasks_due_soon_pending", "ix_tracked_tasks_overdue_pending"} <= indexes


def test_the_alembic_cli_uses_scheduler_database_url(database_server):
    url = database_server.create_database("scheduler_cli")
    env = {**os.environ, "SCHEDULER_DATABASE_URL": url}
    for args in (["upgrade", "head"], ["downgrade", "base"]):
        result = subprocess.run([sys.executable, "-m", "alembic", *args], cwd=SERVICE_DIR,
                                env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr


async def test_health_and_docs(settings):
    async with asgi_client(create_app(settings)) as client:
        assert (await client.get("/health/live")).json() == {"status": "ok"}
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert (await client.get("/docs/scheduler/openapi.json")).status_code == 200
