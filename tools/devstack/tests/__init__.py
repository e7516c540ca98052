"""Tests of tools/devstack."""
