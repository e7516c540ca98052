"""Alembic environment of the boards schema.

Programmatic use (``chassis.migrations.upgrade_to_head("boards", url)``) passes the URL;
the CLI (``alembic -c services/boards/alembic.ini upgrade head``) falls back to
``BOARDS_DATABASE_URL`` through the service settings."""

from alembic import context
from boards.db import SCHEMA
from boards.models import metadata
from chassis.migrations import run_env

if not context.config.get_main_option("sqlalchemy.url"):
    from boards.config import BoardsSettings

    context.config.set_main_option("sqlalchemy.url",
                                   BoardsSettings().database_url.replace("%", "%%"))

run_env(metadata, SCHEMA)
