"""Tests of the notifier service (helpers: ``services.notifier.tests.notifier_helpers``)."""
