"""facepay.capture."""
