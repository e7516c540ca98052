"""Tests of the workspace service (helpers: ``services.workspace.tests.workspace_helpers``)."""
