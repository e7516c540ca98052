"""Tests of the identity service (helpers: ``services.identity.tests.identity_helpers``)."""
