"""Thin HTTP routers: parse, call ``identity.service``, shape the response."""
