"""The events boards consumes; what it publishes goes through ``boards.db.publisher``."""
