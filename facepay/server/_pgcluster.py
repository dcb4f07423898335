"""Moved to :mod:`facepay.testing.postgres` (test infrastructure, not the backend's).
A re-export for this session's other branches; to be removed once they have merged."""

from facepay.testing.postgres import TemporaryPostgres as TemporaryPostgres

__all__ = ["TemporaryPostgres"]
