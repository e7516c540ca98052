"""The scheduler schema: every table of this service lives in PostgreSQL schema ``scheduler``."""

from __future__ import annotations

from chassis.db import outbox_table, processed_events_table, service_metadata
from chassis.outbox import Publisher

SCHEMA = "scheduler"

metadata = service_metadata(SCHEMA)
outbox = outbox_table(metadata)
# Every event of this service goes out through here (stream scheduler.events).
publisher = Publisher(outbox)
processed_events = processed_events_table(metadata)
