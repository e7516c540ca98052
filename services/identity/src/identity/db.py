"""The identity schema: every table of this service lives in PostgreSQL schema ``identity``."""

from __future__ import annotations

from chassis.db import outbox_table, service_metadata

SCHEMA = "identity"

metadata = service_metadata(SCHEMA)
outbox = outbox_table(metadata)
