"""Alembic environment of the notifier schema.

Programmatic use (``chassis.migrations.upgrade_to_head("notifier", url)``) passes the URL;
the CLI (``alembic -c services/notifier/alembic.ini upgrade head``) falls back to
``NOTIFIER_DATABASE_URL`` through the service settings."""

from alembic import context
from chassis.migrations import run_env
from notifier.db import SCHEMA
from notifier.models import metadata

if not context.config.get_main_option("sqlalchemy.url"):
    from notifier.config import NotifierSettings

    context.config.set_main_option("sqlalchemy.url",
                                   NotifierSettings().database_url.replace("%", "%%"))

run_env(metadata, SCHEMA)
