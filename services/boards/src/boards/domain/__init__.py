"""Pure domain logic of the boards service (no I/O)."""
