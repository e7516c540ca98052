"""Boards service: boards, lists, tasks, comments and the project activity log."""
