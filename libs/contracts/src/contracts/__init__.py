"""What the Kanban services agree on, as data: the event envelope and typed payloads
(:mod:`contracts.events`), stream names (:mod:`contracts.streams`), the event catalog that
documents them (:mod:`contracts.catalog`) and field types of the API schemas
(:mod:`contracts.schema_types`).

Only pydantic and the standard library are imported here, so a producer, a consumer or a
tool can depend on the contracts without the service kit (``chassis``) that builds on them.
"""
