"""Tests of libs/contracts."""
