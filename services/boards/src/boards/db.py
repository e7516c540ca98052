"""The boards schema: every table of this service lives in PostgreSQL schema ``boards``."""

from __future__ import annotations

from chassis.db import outbox_table, processed_events_table, service_metadata
from chassis.outbox import Publisher

SCHEMA = "boards"

metadata = service_metadata(SCHEMA)
outbox = outbox_table(metadata)
# Every event of this service goes out through here (stream boards.events).
publisher = Publisher(outbox)
processed_events = processed_events_table(metadata)
