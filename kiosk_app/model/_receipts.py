"""The receipt channel: how the privacy code reaches the shopper without the shared screen.

The privacy code with the phone number unlocks export, withdrawal and deletion of the
shopper's data, so it is never drawn on the kiosk's screen (issue #13). The shopper picks
a channel; each is an adapter behind one interface, :class:`ReceiptChannel`:

* :class:`PrintedReceipt` hands the text to the till's printer (a callable the POS gives);
  :class:`FilePrinter` is the demo's printer, one file per receipt;
* :class:`EmailReceipt` and :class:`SmsReceipt` hand it to the retailer's mail or SMS
  gateway (a callable), with the address the shopper typed.

The privacy page's URL is the retailer's public one (:func:`public_privacy_url` refuses a
loopback or plain-http address).
"""

from __future__ import annotations

import enum
import ipaddress
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from facepay import ConfigurationError

__all__ = [
    "ChannelKind",
    "EmailReceipt",
    "FilePrinter",
    "PrintedReceipt",
    "PrivacyReceipt",
    "ReceiptChannel",
    "SmsReceipt",
    "public_privacy_url",
]


class ChannelKind(str, enum.Enum):
    PRINTED = "printed"
    EMAIL = "email"
    SMS = "sms"

    @property
    def needs_address(self) -> bool:
        return self is not ChannelKind.PRINTED


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyReceipt:
    """What goes to the shopper's channel: the sale and, if any, their privacy code."""

    sale_id: str
    lines: tuple[str, ...]
    privacy_code: str = field(default="", repr=False)
    privacy_url: str = ""

    def text(self) -> str:
        out = list(self.lines)
        if self.privacy_code:
            out += [
                "",
                f"Your privacy code: {self.privacy_code}",
                "With your phone number it lets you see, export or delete your face-pay data",
                f"at {self.privacy_url}" if self.privacy_url else "at the store's privacy page.",
                "Keep it private.",
            ]
        return "\n".join(out) + "\n"


class ReceiptChannel(Protocol):
    kind: ChannelKind

    def send(self, receipt: PrivacyReceipt, address: str = "") -> None:
        """Deliver the receipt; ``address`` is the e-mail or phone number for those kinds."""


class PrintedReceipt:
    kind = ChannelKind.PRINTED

    def __init__(self, printer: Callable[[str], None]) -> None:
        self._print = printer

    def send(self, receipt: PrivacyReceipt, address: str = "") -> None:
        self._print(receipt.text())


class FilePrinter:
    """The demo's receipt printer: each receipt is a file in ``folder`` (mode 0600)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._n = itertools.count(1)
        self.printed: list[Path] = []

    def __call__(self, text: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"receipt-{next(self._n):04d}.txt"
        path.touch(mode=0o600)
        path.write_text(text, encoding="utf-8")
        self.printed.append(path)


class EmailReceipt:
    kind = ChannelKind.EMAIL

    def __init__(self, send_mail: Callable[[str, str, str], None]) -> None:
        self._send = send_mail  # (to, subject, body)

    def send(self, receipt: PrivacyReceipt, address: str = "") -> None:
        if "@" not in address:
            raise ValueError("an e-mail receipt needs an address")
        self._send(address, "Your receipt", receipt.text())


class SmsReceipt:
    kind = ChannelKind.SMS

    def __init__(self, send_sms: Callable[[str, str], None]) -> None:
        self._send = send_sms  # (E.164 number, text)

    def send(self, receipt: PrivacyReceipt, address: str = "") -> None:
        if not address:
            raise ValueError("an SMS receipt needs a phone number")
        self._send(address, receipt.text())


def public_privacy_url(url: str) -> str:
    """The retailer's privacy page as configured: https on a public host, or refused."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        raise ConfigurationError("the privacy page URL must be an https:// address")
    if host == "localhost" or host.endswith(".localhost"):
        raise ConfigurationError("the privacy page URL must be public, not loopback")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return url
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified:
        raise ConfigurationError("the privacy page URL must be public, not a local address")
    return url
