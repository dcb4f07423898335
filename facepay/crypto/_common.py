"""Small helpers shared by the crypto modules: context encoding, base64, key files."""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path

from facepay.errors import CryptoError

__all__: list[str] = []  # private

_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def check_id(value: str, what: str) -> str:
    """Key ids travel in headers and file names: keep them short and boring."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise CryptoError(f"{what} must be 1..64 characters of A-Z a-z 0-9 . _ : -")
    return value


def encode_context(label: str, fields: Sequence[tuple[str, str]]) -> bytes:
    """An injective encoding of a label and ordered (name, value) pairs.

    Every string is length-prefixed (u16), so ``("ab", "c")`` and ``("a", "bc")`` can
    never encode to the same bytes: the binding cannot be shifted between fields.
    """
    out = bytearray()
    for part in (label, *(s for pair in fields for s in pair)):
        raw = part.encode("utf-8")
        if len(raw) > 0xFFFF:
            raise CryptoError("context field too long")
        out += struct.pack(">H", len(raw)) + raw
    return bytes(out)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Standard or URL-safe base64, padded or not (the protocol sends unpadded base64url).

    Raises ValueError on anything else (stray characters, impossible lengths).
    """
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("not base64") from None
    else:
        raw = bytes(text)
    raw = raw.replace(b"-", b"+").replace(b"_", b"/")
    if b"=" not in raw:
        raw += b"=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_nopad_decode(text: str) -> bytes:
    return b64decode(text)


def write_secret_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, readable by the owner only (0600).

    The temporary file is created 0600 from the start (no window where it is readable
    by others) in the target's directory, then renamed over the target.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)  # mkstemp uses 0600
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def read_secret_file(path: str | os.PathLike[str]) -> bytes:
    """Read a key file; refuse one that others can read or write (like ssh does)."""
    target = Path(path)
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        raise CryptoError(f"key file not found: {target}") from None
    if mode & 0o077:
        raise CryptoError(
            f"key file {target} is accessible by group or others (mode {mode & 0o777:o}); "
            "chmod 600 it"
        )
    return target.read_bytes()
