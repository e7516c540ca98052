"""The rules of the boards service, free of HTTP: functions taking a session and plain
values (rows the caller has been authorized for), shared by the routers and the event
consumer. Authorization, ETags and the API's schemas belong to the API layer (``boards.deps``
and ``boards.api``); each lookup lives in the module of its resource."""
