"""Migrations, health, OpenAPI, settings and request ids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from chassis.migrations import current_revision, head_revision
from pydantic import ValidationError
from workspace.config import WorkspaceSettings

SERVICE_DIR = Path(__file__).resolve().parents[1]


def test_migrations_reach_head(db):
    with db.connect() as conn:
        assert current_revision(conn, "workspace") == head_revision("workspace") == "0001"
        tables = set(sa.inspect(conn).get_table_names(schema="workspace"))
    assert tables == {"user_directory", "teams", "team_members", "projects", "project_members",
                      "outbox", "processed_events", "alembic_version"}


def test_the_models_match_the_migrations(db):
    """Alembic's autogenerate finds nothing to do: models.py and the migration agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from workspace.models import metadata

    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_schemas": True, "version_table_schema": "workspace",
            "include_name": lambda name, type_, parent: type_ != "schema" or name == "workspace"})
        diff = [d for d in compare_metadata(context, metadata)
                if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diff == []


def test_the_alembic_cli_uses_workspace_database_url(database_server):
    url = database_server.create_database("workspace_cli")
    env = {**os.environ, "WORKSPACE_DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"],
                            cwd=SERVICE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    downgrade = subprocess.run([sys.executable, "-m", "alembic", "downgrade", "base"],
                               cwd=SERVICE_DIR, env=env, capture_output=True, text=True,
                               timeout=60)
    assert downgrade.returncode == 0, downgrade.stderr
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert current_revision(conn, "workspace") is None
        assert set(sa.inspect(conn).get_table_names(schema="workspace")) == {"alembic_version"}
    engine.dispose()


async def test_health(client):
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}


async def test_openapi_documents_the_public_paths(client):
    response = await client.get("/docs/workspace/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Workspace"
    paths = schema["paths"]
    assert {"/api/v1/teams", "/api/v1/teams/{id}", "/api/v1/teams/{id}/members",
            "/api/v1/teams/{id}/members/{user_id}", "/api/v1/projects",
            "/api/v1/projects/{id}", "/api/v1/projects/{id}/members",
            "/api/v1/projects/{id}/members/{user_id}"} <= set(paths)
    assert "409" in paths["/api/v1/teams/{id}/members"]["post"]["responses"]
    assert "401" in paths["/api/v1/projects"]["get"]["responses"]
    member = schema["components"]["schemas"]["ProjectMember"]["properties"]
    assert {"user_id", "email", "full_name", "role", "joined_at", "implicit"} <= set(member)
    assert (await client.get("/docs/workspace/")).status_code == 200


async def test_request_id_is_echoed_and_errors_are_problem_json(client, make_user):
    user = make_user()
    response = await client.get("/api/v1/teams/nope", headers={**user.headers,
                                                              "X-Request-ID": "trace-me"})
    assert response.headers["x-request-id"] == "trace-me"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/nothing-here", headers=user.headers)).status_code == 404


async def test_unknown_route_and_wrong_method(client, make_user):
    user = make_user()
    response = await client.put("/api/v1/teams", json={}, headers=user.headers)
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_malformed_json_is_422(client, make_user):
    response = await client.post("/api/v1/teams", content=b"{not json",
                                 headers={**make_user().headers,
                                          "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_settings_read_the_workspace_prefix(monkeypatch):
    monkeypatch.setenv("WORKSPACE_IDENTITY_URL", "http://identity:8000")
    monkeypatch.setenv("WORKSPACE_IDENTITY_TIMEOUT_SECONDS", "1.5")
    settings = WorkspaceSettings()
    assert (settings.identity_url, settings.identity_timeout_seconds) == \
        ("http://identity:8000", 1.5)


def test_production_refuses_development_defaults():
    with pytest.raises(ValidationError, match="cursor_secret"):
        WorkspaceSettings(environment="production")
