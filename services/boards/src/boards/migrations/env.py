"""Alembic environment of the boards schema (the work is :func:`chassis.migrations.run_env`)."""

from boards.db import SCHEMA
from boards.models import metadata
from chassis.migrations import run_env

run_env(metadata, SCHEMA)
