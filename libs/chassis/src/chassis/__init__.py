"""The service kit every Kanban service builds on: settings, logging, the FastAPI app factory
with health and docs routes, problem+json errors, input validation, token verification,
keyset pagination, the database engine, the transactional outbox with its publisher and its
relay, the worker and consumer bases, read models (upsert-if-newer, the user directory), the
read-through client of another service, stream retention, Alembic helpers (``python -m
chassis.migrate``) and the one way to run a service's API and workers (``python -m
chassis.serve``).

It builds on :mod:`contracts` (the event envelope, payloads and stream names); the contracts
never import the chassis.
"""
