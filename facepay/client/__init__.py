"""facepay.client."""
