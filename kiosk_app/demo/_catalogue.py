"""The demo's products, test card tokens and staff account."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from kiosk_app.model import StaffDirectory

__all__ = ["DEMO_CARD_TOKENS", "DEMO_CATALOGUE", "DemoCardReader", "Product", "demo_staff"]


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price_minor: int
    age_restricted: bool = False


# Five products: the on-screen scanner holds five buttons at 1024x768 (tests/kiosk/
# test_kiosk_main.py checks the window fits the screen).
DEMO_CATALOGUE: tuple[Product, ...] = (
    Product("4011", "Bananas 1 kg", 119),
    Product("4006381333931", "Wholegrain bread", 249),
    Product("8712100837516", "Free-range eggs x6", 299),
    Product("5057172236511", "Coffee beans 500 g", 749),
    Product("3258431210013", "Red wine 0.75 l", 899, age_restricted=True),
)

# Token ids from the sandbox's test-card table (facepay's wire module, docs/protocol.md).
DEMO_CARD_TOKENS: tuple[str, ...] = ("tok_visa_4242", "tok_mastercard_5555", "tok_visa_1881")


class DemoCardReader:
    """Every tap reads the next test card: a token only, as an acquirer would hand it over."""

    def __init__(self, tokens: tuple[str, ...] = DEMO_CARD_TOKENS) -> None:
        self.tokens = tokens
        self._taps = 0

    def tap(self) -> str:
        token = self.tokens[self._taps % len(self.tokens)]
        self._taps += 1
        return token


DEMO_STAFF_ID = "demo"


def demo_staff() -> tuple[StaffDirectory, str]:
    """A directory with the one demo account and its PIN, new for every run."""
    pin = f"{secrets.randbelow(10**6):06d}"
    directory = StaffDirectory()
    directory.add(DEMO_STAFF_ID, pin, name="Demo staff")
    return directory, pin
