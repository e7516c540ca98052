"""Tests of the scheduler service (helpers: ``services.scheduler.tests.scheduler_helpers``)."""
