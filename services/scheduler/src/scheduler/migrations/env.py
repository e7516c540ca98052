"""Alembic environment of the scheduler schema (the work is :func:`chassis.migrations.run_env`)."""

from chassis.migrations import run_env
from scheduler.db import SCHEMA
from scheduler.models import metadata

run_env(metadata, SCHEMA)
