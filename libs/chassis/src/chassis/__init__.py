"""The service kit every Kanban service builds on: settings, logging, the FastAPI app factory
with health and docs routes, problem+json errors, input validation, token verification,
keyset pagination, the database engine, the transactional outbox with its publisher and its
relay (``python -m chassis.relay``), the consumer base, read models (upsert-if-newer, the user
directory), the read-through client of another service, stream retention and Alembic helpers
(``python -m chassis.migrate``).

It builds on :mod:`contracts` (the event envelope, payloads and stream names); the contracts
never import the chassis.
"""
