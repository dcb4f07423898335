"""facepay.server."""
