"""What the boards service publishes (through its outbox) and consumes."""
