"""Alembic environment of the workspace schema (the work is :func:`chassis.migrations.run_env`)."""

from chassis.migrations import run_env
from workspace.db import SCHEMA
from workspace.models import metadata

run_env(metadata, SCHEMA)
