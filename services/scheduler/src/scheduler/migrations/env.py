"""Alembic environment of the scheduler schema.

Programmatic use (``chassis.migrations.upgrade_to_head("scheduler", url)``) passes the URL;
the CLI (``alembic -c services/scheduler/alembic.ini upgrade head``) falls back to
``SCHEDULER_DATABASE_URL`` through the service settings."""

from alembic import context
from chassis.migrations import run_env
from scheduler.db import SCHEMA
from scheduler.models import metadata

if not context.config.get_main_option("sqlalchemy.url"):
    from scheduler.config import SchedulerSettings

    context.config.set_main_option("sqlalchemy.url",
                                   SchedulerSettings().database_url.replace("%", "%%"))

run_env(metadata, SCHEMA)
