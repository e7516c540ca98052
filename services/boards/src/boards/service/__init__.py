"""The rules of the boards service, free of HTTP: functions taking a session and plain
values, shared by the routers and the event consumer."""
