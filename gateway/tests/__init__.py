"""Tests of the nginx gateway."""
