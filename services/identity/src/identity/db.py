"""The identity schema: every table of this service lives in PostgreSQL schema ``identity``."""

from __future__ import annotations

from chassis.db import outbox_table, service_metadata
from chassis.outbox import Publisher

SCHEMA = "identity"

metadata = service_metadata(SCHEMA)
outbox = outbox_table(metadata)
# Every event of this service goes out through here (stream identity.events).
publisher = Publisher(outbox)
