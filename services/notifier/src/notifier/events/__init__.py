"""Events consumed by the notifier (it publishes none)."""
