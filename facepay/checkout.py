"""The headless checkout flow: a declarative state machine with per-state timeouts."""
