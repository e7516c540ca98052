"""Tests of the boards service (helpers: ``services.boards.tests.boards_helpers``)."""
