"""facepay.crypto."""
