"""Events: the scheduler consumes boards' task events and emits reminders via its outbox."""
