"""The attendant queue: what staff at this till are asked to do, oldest first.

A request is raised by the shopper (call attendant), by the basket (an age-restricted
item), by the kiosk (an unpaid basket left behind; the lane paused by the backend; a
payment whose answer was lost) and is resolved by a staff action that the kiosk audits.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AttendantQueue", "AttendantRequest", "RequestKind"]


class RequestKind(str, enum.Enum):
    CALLED = "called"  # the shopper pressed "call attendant"
    AGE_CHECK = "age_check"  # an age-restricted item is in the basket
    ABANDONED_BASKET = "abandoned_basket"  # a basket left unpaid (timeout, cancel)
    LANE_PAUSED = "lane_paused"  # the backend rate-limited face pay at this till
    PAYMENT_UNKNOWN = "payment_unknown"  # sent, answer lost: settle before any card


@dataclass(frozen=True, slots=True, kw_only=True)
class AttendantRequest:
    request_id: int
    kind: RequestKind
    raised_at: float  # the kiosk's clock (monotonic seconds)
    sale_id: str = ""
    amount_text: str = ""  # e.g. "EUR 9.87" for an abandoned basket
    item_count: int = 0
    sku: str = ""


class AttendantQueue:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._ids = itertools.count(1)
        self._open: dict[int, AttendantRequest] = {}

    @property
    def open(self) -> tuple[AttendantRequest, ...]:
        return tuple(self._open.values())

    def __len__(self) -> int:
        return len(self._open)

    def of_kind(self, kind: RequestKind) -> tuple[AttendantRequest, ...]:
        return tuple(r for r in self._open.values() if r.kind is kind)

    def raise_request(
        self,
        kind: RequestKind,
        *,
        sale_id: str = "",
        amount_text: str = "",
        item_count: int = 0,
        sku: str = "",
    ) -> AttendantRequest:
        # One open request per kind and sale: pressing "call" five times is one call.
        for r in self._open.values():
            if r.kind is kind and r.sale_id == sale_id and r.sku == sku:
                return r
        req = AttendantRequest(
            request_id=next(self._ids),
            kind=kind,
            raised_at=self._clock(),
            sale_id=sale_id,
            amount_text=amount_text,
            item_count=item_count,
            sku=sku,
        )
        self._open[req.request_id] = req
        return req

    def resolve(self, request_id: int) -> AttendantRequest | None:
        return self._open.pop(request_id, None)

    def resolve_kind(self, kind: RequestKind, sale_id: str | None = None) -> None:
        for r in list(self._open.values()):
            if r.kind is kind and (sale_id is None or r.sale_id == sale_id):
                del self._open[r.request_id]
