"""facepay.liveness."""
