"""Alembic helpers: every service keeps its migrations in ``<service>/migrations`` with the
version table in its own schema. ``env.py`` of a service is one call to :func:`run_env`."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from chassis.db import outbox_table, processed_events_table, service_metadata
from chassis.settings import ServiceSettings


def alembic_config(package: str, database_url: str) -> Config:
    """Config for ``<package>.migrations`` against ``database_url`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files(package) / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_to_head(package: str, database_url: str) -> None:
    command.upgrade(alembic_config(package, database_url), "head")


def head_revision(package: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(package, "postgresql://")).get_current_head()


def current_revision(connection: sa.Connection, schema: str) -> str | None:
    ctx = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return ctx.get_current_revision()


def run_env(metadata: sa.MetaData, schema: str) -> None:
    """Body of a service's migrations/env.py (online mode, sync psycopg engine).

    Programmatic use (:func:`upgrade_to_head`) passes the URL; the alembic CLI
    (``alembic -c services/<schema>/alembic.ini upgrade head``) falls back to the service's
    own setting, ``<SCHEMA>_DATABASE_URL``."""
    url = context.config.get_main_option("sqlalchemy.url") or \
        ServiceSettings.for_service(schema).database_url
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(connection=connection, target_metadata=metadata,
                          version_table_schema=schema, include_schemas=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def create_outbox(schema: str) -> None:
    """For a service's first migration: the outbox table."""
    outbox_table(service_metadata(schema)).create(context.get_bind())


def create_processed_events(schema: str) -> None:
    """For a consumer's first migration: the processed-events table."""
    processed_events_table(service_metadata(schema)).create(context.get_bind())
