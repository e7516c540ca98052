"""The scheduler schema: every table of this service lives in PostgreSQL schema ``scheduler``."""

from __future__ import annotations

from chassis.db import outbox_table, processed_events_table, service_metadata

SCHEMA = "scheduler"
PRODUCER = "scheduler"

metadata = service_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
