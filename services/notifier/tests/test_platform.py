"""Migrations, health, docs and the process roles of the notifier."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from chassis.consumer import EventConsumer
from chassis.migrations import current_revision, head_revision
from chassis.serve import ApiServer, roles_of, workers_of
from chassis.worker import Worker
from devstack.infra import free_port
from notifier.mailer import Mailer

SERVICE_DIR = Path(__file__).resolve().parents[1]


def test_migrations_reach_head(db):
    with db.connect() as conn:
        assert current_revision(conn, "notifier") == head_revision("notifier") == "0001"
        tables = set(sa.inspect(conn).get_table_names(schema="notifier"))
    assert {"users", "tasks", "preferences", "notifications", "email_outbox",
            "processed_events", "alembic_version"} <= tables


def test_the_alembic_cli_uses_notifier_database_url(database_server):
    url = database_server.create_database("notifier_cli")
    env = {**os.environ, "NOTIFIER_DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"],
                            cwd=SERVICE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    downgrade = subprocess.run([sys.executable, "-m", "alembic", "downgrade", "base"],
                               cwd=SERVICE_DIR, env=env, capture_output=True, text=True,
                               timeout=60)
    assert downgrade.returncode == 0, downgrade.stderr


async def test_health_and_docs(client):
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}
    schema = (await client.get("/docs/notifier/openapi.json")).json()
    assert set(schema["paths"]) >= {
        "/api/v1/notifications", "/api/v1/notifications/unread-count",
        "/api/v1/notifications/read-all", "/api/v1/notifications/{id}/read",
        "/api/v1/notifications/preferences"}
    assert (await client.get("/docs/notifier/")).status_code == 200


async def test_chassis_serve_hosts_the_notifier_api_consumer_and_mailer():
    """The roles ``python -m chassis.serve notifier --role ...`` accepts, and what each is."""
    assert set(workers_of("notifier")) == {"consumer", "mailer"}
    every = roles_of("notifier", "all", port=free_port())
    alone = roles_of("notifier", "mailer")
    try:
        assert set(every) == {"notifier", "notifier-consumer", "notifier-mailer"}
        assert isinstance(every["notifier"], ApiServer)
        consumer = every["notifier-consumer"]
        assert isinstance(consumer, EventConsumer) and consumer.group == "notifier"
        assert isinstance(every["notifier-mailer"], Mailer)
        assert set(alone) == {"notifier-mailer"}
    finally:
        for role in [*every.values(), *alone.values()]:
            if isinstance(role, Worker):
                await role.close()


def test_the_mailer_role_starts_and_stops_on_sigterm(database_url, redis_url, smtp_sink):
    env = {**os.environ, "NOTIFIER_DATABASE_URL": database_url,
           "NOTIFIER_REDIS_URL": redis_url, "NOTIFIER_SMTP_PORT": str(smtp_sink.port)}
    process = subprocess.Popen([sys.executable, "-m", "chassis.serve", "notifier",
                                "--role", "mailer"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        for line in process.stdout:  # type: ignore[union-attr]
            if "mailer_started" in line:
                break
        assert "mailer_started" in line
        assert json.loads(line)["service"] == "notifier-mailer"
        process.terminate()
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
