"""The identity rules: plain async functions taking a session and plain values, raising
``chassis.errors`` exceptions. The routers in ``identity.api`` only translate HTTP."""
