"""HTTP routers of the notifier (public paths under ``/api/v1/notifications``)."""
