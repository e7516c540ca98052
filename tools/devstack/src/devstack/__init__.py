"""Native development stack and test fixtures."""
