"""Notifier rules, without HTTP: read models, preferences, making notifications and e-mails."""
