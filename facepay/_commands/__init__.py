"""CLI commands that compose several stages (above the stages in the import layers)."""
