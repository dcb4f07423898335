"""``with obj:`` for the library's objects that hold a model, a camera or a connection."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_C = TypeVar("_C", bound="ClosesOnExit")


class ClosesOnExit:
    """A ``with`` block closes the object on its way out, however the block ends.

    Subclasses define :meth:`close` (idempotent: a ``with`` block may follow an explicit
    close)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
