"""The facepay self-checkout kiosk (PyQt6), built on facepay's public API only."""
