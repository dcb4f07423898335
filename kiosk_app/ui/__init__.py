"""Qt drawing helpers for the kiosk's screens (icons drawn with QPainter, no emoji fonts)."""
