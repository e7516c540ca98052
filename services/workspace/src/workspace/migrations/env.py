"""Alembic environment of the workspace schema.

Programmatic use (``chassis.migrations.upgrade_to_head("workspace", url)``) passes the URL;
the CLI (``alembic -c services/workspace/alembic.ini upgrade head``) falls back to
``WORKSPACE_DATABASE_URL`` through the service settings."""

from alembic import context
from chassis.migrations import run_env
from workspace.db import SCHEMA
from workspace.models import metadata

if not context.config.get_main_option("sqlalchemy.url"):
    from workspace.config import WorkspaceSettings

    context.config.set_main_option("sqlalchemy.url",
                                   WorkspaceSettings().database_url.replace("%", "%%"))

run_env(metadata, SCHEMA)
