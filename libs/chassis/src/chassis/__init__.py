"""The service kit every Kanban service builds on: settings, logging, the FastAPI app factory
with health and docs routes, problem+json errors, token verification, cursor pagination, the
database engine, the transactional outbox and its relay (``python -m chassis.relay``), the
consumer base, stream retention and Alembic helpers (``python -m chassis.migrate``).

It builds on :mod:`contracts` (the event envelope, payloads and stream names); the contracts
never import the chassis.
"""
