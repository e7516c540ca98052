"""End-to-end tests against the whole platform started natively (helpers:
``tests.e2e.security_support``)."""
