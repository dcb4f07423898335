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

from facepay import BasketLine, ConfigurationError, format_money
from kiosk_app.i18n import Language, Translator
from kiosk_app.model._outcome import Outcome, OutcomeKind

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


# Unicode's directional marks (UAX #9): in a right-to-left receipt every line starts with a
# right-to-left mark, so a line that opens with a number or a product name is still laid out
# right to left, and each value the shopper did not type in Arabic (an amount, a card, an
# id, a URL) is an isolate, so "EUR 9.87" and "Visa •••• 4242" keep their own order inside
# an Arabic sentence. A product name may be in either direction: first-strong isolate.
_RLM, _LRI, _FSI, _PDI = "\u200f", "\u2066", "\u2068", "\u2069"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyReceipt:
    """What goes to the shopper's channel, in the language they chose: the sale (its
    items, total, how it was paid, the receipt number) and, if any, their privacy code.

    Built from the attempt's outcome by :meth:`of`; :meth:`text` and :meth:`subject` are
    the words the printer, the mail or the SMS gateway gets."""

    sale_id: str
    language: Language = Language.EN
    items: tuple[BasketLine, ...] = ()
    currency: str = ""
    total: str = ""  # the amount paid, as the screen formats it ("" when nothing was paid)
    paid_with: str = ""
    receipt_number: str = ""
    privacy_code: str = field(default="", repr=False)
    privacy_url: str = ""

    @classmethod
    def of(
        cls, outcome: Outcome, *, sale_id: str, language: Language, privacy_url: str = ""
    ) -> PrivacyReceipt:
        paid = outcome.kind is OutcomeKind.APPROVED
        return cls(
            sale_id=sale_id,
            language=language,
            items=outcome.items,
            currency=outcome.currency,
            total=outcome.amount_text if paid else "",
            paid_with=outcome.masked_method if paid else "",
            receipt_number=outcome.receipt_id if paid else "",
            privacy_code=outcome.privacy_code,
            privacy_url=privacy_url,
        )

    def _value(self, text: object, *, either_way: bool = False) -> str:
        if either_way:
            # A product name, in any receipt: its direction controls end with it.
            return f"{_FSI}{text}{_PDI}"
        if not self.language.rtl:
            return str(text)
        return f"{_LRI}{text}{_PDI}"

    def lines(self) -> tuple[str, ...]:
        tr, v = Translator(self.language), self._value
        out = [
            tr(
                "slip.item",
                quantity=line.quantity,
                item=v(line.description, either_way=True),
                amount=v(format_money(line.total_minor, self.currency)),
            )
            for line in self.items
        ]
        if self.total:
            out.append(tr("slip.total", amount=v(self.total)))
        if self.paid_with:
            out.append(tr("slip.paid_with", method=v(self.paid_with)))
        if self.receipt_number:
            out.append(tr("slip.number", number=v(self.receipt_number)))
        if self.privacy_code:
            if out:
                out.append("")
            out += [
                tr("slip.privacy_code", code=v(self.privacy_code)),
                tr("slip.privacy_use"),
                tr("slip.privacy_at", url=v(self.privacy_url))
                if self.privacy_url
                else tr("slip.privacy_page"),
                tr("slip.keep_private"),
            ]
        if self.language.rtl:
            return tuple(f"{_RLM}{line}" if line else line for line in out)
        return tuple(out)

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"

    def subject(self) -> str:
        """The e-mail's subject line."""
        return Translator(self.language)("slip.subject")


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
        self._send(address, receipt.subject(), receipt.text())


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
