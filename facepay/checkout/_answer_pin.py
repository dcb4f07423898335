"""The answer key pin a till learned or followed, kept beside its device key.

A till given no ``ClientConfig.answer_key_pin`` (allowed only for a backend on this
machine) believes the key of its first signed answer, and follows an endorsed rotation
(docs/protocol.md, "Signed answers"). In memory only, a restart would learn afresh from
whatever answered first. :class:`AnswerPinFile` keeps that pin in one file, 0600, written
whole (a temporary file renamed over it), so a restarted till believes only the key it
learned. The file holds the public key's fingerprint, not a secret; 0600 keeps anyone
else on the machine from swapping in their own.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from facepay.crypto import is_answer_key_pin
from facepay.errors import ConfigurationError

__all__ = ["AnswerPinFile"]

logger = logging.getLogger(__name__)


class AnswerPinFile:
    """One file holding the till's answer key pin (64 lower-case hex digits)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"AnswerPinFile({str(self.path)!r})"

    def load(self) -> str | None:
        """The kept pin; None when there is no file yet. A file that holds anything else
        is a :class:`ConfigurationError`: the till must not quietly learn again."""
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"{self.path}: the answer key pin file cannot be read ({type(exc).__name__})"
            ) from None
        if not is_answer_key_pin(text):
            raise ConfigurationError(
                f"{self.path}: not an answer key pin (64 lower-case hex digits); remove the "
                "file only if this till may learn the backend's key again"
            )
        return text

    def save(self, pin: str) -> None:
        """Keep ``pin``: written to a 0600 temporary file beside it, then renamed over it."""
        if not is_answer_key_pin(pin):
            raise ValueError("not an answer key pin")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, f"{pin}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def keep(self, pin: str) -> None:
        """:meth:`save`, called by the client on the answer that taught it ``pin``: a file
        that cannot be written is logged, never raised, since that answer (a payment's,
        perhaps) is already believed and must reach the till; the pin stays in memory."""
        try:
            self.save(pin)
        except OSError as exc:
            logger.warning(
                "%s: the answer key pin could not be kept (%s); a restart will not know it",
                self.path,
                type(exc).__name__,
            )
