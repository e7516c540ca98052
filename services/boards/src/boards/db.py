"""The boards schema: every table of this service lives in PostgreSQL schema ``boards``."""

from __future__ import annotations

from chassis.db import outbox_table, processed_events_table, service_metadata

SCHEMA = "boards"
PRODUCER = "boards"

metadata = service_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
