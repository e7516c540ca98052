"""Alembic environment of the notifier schema (the work is :func:`chassis.migrations.run_env`)."""

from chassis.migrations import run_env
from notifier.db import SCHEMA
from notifier.models import metadata

run_env(metadata, SCHEMA)
