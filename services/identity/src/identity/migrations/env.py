"""Alembic environment of the identity schema (the work is :func:`chassis.migrations.run_env`)."""

from chassis.migrations import run_env
from identity.db import SCHEMA
from identity.models import metadata

run_env(metadata, SCHEMA)
