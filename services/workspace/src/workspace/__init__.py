"""Workspace service: teams, projects, members and roles."""
