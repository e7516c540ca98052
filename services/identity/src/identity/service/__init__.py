"""The identity rules: plain async functions taking a session and plain values, raising
``contracts.errors`` exceptions. The routers in ``identity.api`` only translate HTTP."""
