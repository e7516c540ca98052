"""Event contracts and the small shared plumbing of the Kanban services.

This is the only code the services share: the event envelope and typed payloads, stream
names, and the outbox relay, consumer base, settings, logging, errors, health and auth
helpers every service builds on.
"""
