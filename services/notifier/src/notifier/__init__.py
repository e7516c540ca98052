"""Notifier service: in-app notifications, e-mail over SMTP, preferences."""
