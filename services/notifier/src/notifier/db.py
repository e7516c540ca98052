"""The notifier schema: every table of this service lives in PostgreSQL schema ``notifier``."""

from __future__ import annotations

from chassis.db import processed_events_table, service_metadata

SCHEMA = "notifier"
# LISTEN/NOTIFY channel: the consumer notifies it in the transaction that adds e-mails
# (delivered at commit), the mailer listens.
MAIL_CHANNEL = "notifier_email"

metadata = service_metadata(SCHEMA)
processed_events = processed_events_table(metadata)

