"""Scheduler service: due-date reminders from periodic scans."""
