"""Migrations, health, docs and the worker entry points of the notifier."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from chassis.migrations import current_revision, head_revision

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


def test_worker_modules_are_runnable():
    """``python -m notifier.mailer`` / ``notifier.events.consumer`` resolve to a main()."""
    import notifier.events.consumer as consumer
    import notifier.mailer as mailer

    assert callable(consumer.main) and callable(mailer.main)


def test_the_mailer_process_starts_and_stops_on_sigterm(database_url, redis_url, smtp_sink):
    env = {**os.environ, "NOTIFIER_DATABASE_URL": database_url,
           "NOTIFIER_REDIS_URL": redis_url, "NOTIFIER_SMTP_PORT": str(smtp_sink.port)}
    process = subprocess.Popen([sys.executable, "-m", "notifier.mailer"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        for line in process.stdout:  # type: ignore[union-attr]
            if "mailer_started" in line:
                break
        assert "mailer_started" in line
        process.terminate()
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
