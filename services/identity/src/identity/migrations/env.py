"""Alembic environment of the identity schema.

Programmatic use (``chassis.migrations.upgrade_to_head("identity", url)``) passes the URL;
the CLI (``alembic -c services/identity/alembic.ini upgrade head``) falls back to
``IDENTITY_DATABASE_URL`` through the service settings."""

from alembic import context
from chassis.migrations import run_env
from identity.db import SCHEMA
from identity.models import metadata

if not context.config.get_main_option("sqlalchemy.url"):
    from identity.config import IdentitySettings

    context.config.set_main_option("sqlalchemy.url",
                                   IdentitySettings().database_url.replace("%", "%%"))

run_env(metadata, SCHEMA)
