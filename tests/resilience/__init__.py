"""Fault and fuzz tests (helpers: ``tests.resilience.faults_support``)."""
