"""facepay.eval."""
