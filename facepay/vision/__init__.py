"""facepay.vision."""
