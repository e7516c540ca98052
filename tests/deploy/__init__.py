"""Offline checks of the deployment files."""
