"""Scheduler rules, without HTTP: the tracked-task read model and the reminder scan."""
