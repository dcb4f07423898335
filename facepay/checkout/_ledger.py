"""The till's one payment ledger: what it sent that can move money and what came back,
kept in memory and, with a journal, in a file that outlives the process; and what a
restarted till learns from the backend about the payments its journal kept."""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from facepay import wire
from facepay.checkout._basket import OrderPayment, PaymentStatus, Receipt
from facepay.checkout._events import OrderAlreadyPaidError
from facepay.checkout._journal import JournalEntry, JournalError, PaidOrder, TillJournal
from facepay.checkout._payment import PendingAuthorization
from facepay.client import FacePayClient
from facepay.errors import BackendError, CheckoutError

__all__ = [
    "APPROVED_MEMORY",
    "PaymentLedger",
    "RecoveredPayment",
    "RecoveryOutcome",
    "recover",
]

logger = logging.getLogger(__name__)

# How many approved orders a till remembers to refuse paying one twice (a day of a busy lane).
APPROVED_MEMORY = 2000


class PaymentLedger:
    """What one till sent that can move money, and what came back: the one list of
    unanswered payments and the one reconcile policy, shared by every session it starts.

    An authorization whose answer was lost is held until it is reconciled, and its order
    cannot be paid again meanwhile (it may have been charged). An approved order is
    remembered (the last ``approved_memory``) so that the same order is never paid twice.

    With a ``journal`` (:class:`~facepay.checkout._journal.TillJournal`) both outlive
    the process: the payments a previous process left unanswered come back as
    :attr:`journalled` (their orders refused until :func:`recover` has its answer), and
    its paid orders are refused again.
    """

    def __init__(
        self, *, approved_memory: int = APPROVED_MEMORY, journal: TillJournal | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._memory = approved_memory
        self._journal = journal
        # idempotency key -> (pending, the order it pays), oldest first.
        self._unanswered: dict[str, tuple[PendingAuthorization, str]] = {}
        # order reference -> what paid it, oldest first (bounded).
        self._approved: dict[str, PaidOrder] = {}
        # idempotency key -> what a previous process left unanswered (journal only).
        self._journalled: dict[str, JournalEntry] = {}
        if journal is not None:
            for paid in journal.paid_orders():
                self._remember(paid)
            self._journalled = {e.idempotency_key: e for e in journal.unanswered()}

    @property
    def unanswered(self) -> tuple[PendingAuthorization, ...]:
        with self._lock:
            return tuple(pending for pending, _ in self._unanswered.values())

    @property
    def journalled(self) -> tuple[JournalEntry, ...]:
        """Payments a previous process of this till left unanswered (found in the
        journal): :func:`recover` asks the backend what became of each."""
        with self._lock:
            return tuple(self._journalled.values())

    def refuse_if_open(self, basket_reference: str) -> None:
        """Raise :class:`OrderAlreadyPaidError` if this order was paid, and
        :class:`CheckoutError` if it may have been."""
        with self._lock:
            paid = self._approved.get(basket_reference)
            if paid is not None:
                raise OrderAlreadyPaidError(
                    basket_reference,
                    authorization_id=paid.authorization_id,
                    receipt_id=paid.receipt_id,
                )
            for pending, reference in self._unanswered.values():
                if reference == basket_reference:
                    raise CheckoutError(
                        f"order {basket_reference!r} has an unanswered authorization "
                        f"({pending.idempotency_key}): reconcile it before paying again"
                    )
            for entry in self._journalled.values():
                if entry.basket_reference == basket_reference:
                    raise CheckoutError(
                        f"order {basket_reference!r} has an authorization the till left "
                        f"unanswered before it restarted ({entry.idempotency_key}): "
                        "till.recover() it before paying again"
                    )

    def hold(
        self,
        pending: PendingAuthorization,
        basket_reference: str,
        session: wire.CheckoutSessionInfo | None = None,
    ) -> None:
        with self._lock:
            self._unanswered[pending.idempotency_key] = (pending, basket_reference)
        if self._journal is None:
            return
        entry = JournalEntry(
            idempotency_key=pending.idempotency_key,
            basket_reference=basket_reference,
            amount_minor=pending.amount_minor or 0,
            currency=pending.currency or "",
            session_id=(
                pending.request.session_id
                if pending.request is not None
                else session.session_id
                if session is not None
                else None
            ),
            session_expires_at=session.expires_at if session is not None else None,
            step_up_authorization_id=pending.step_up_authorization_id,
            sent_at=datetime.now(timezone.utc),
        )
        try:
            self._journal.hold(entry)
        except JournalError as exc:
            # Still held in memory: this process reconciles it as before.
            logger.error("authorization %s not journalled: %s", pending.idempotency_key, exc)

    def settle(self, pending: PendingAuthorization, receipt: Receipt | None) -> None:
        paid = None
        if receipt is not None and receipt.approved:
            paid = PaidOrder(
                basket_reference=receipt.basket_reference,
                authorization_id=receipt.authorization_id,
                receipt_id=receipt.receipt_id,
            )
        with self._lock:
            self._unanswered.pop(pending.idempotency_key, None)
            if paid is not None:
                self._remember(paid)
        self._journal_settle(pending.idempotency_key, paid)

    def paid_elsewhere(self, paid: PaidOrder) -> None:
        """The backend says another payment paid this order (another lane, or this
        till's own before a restart): refuse it from now on."""
        with self._lock:
            self._remember(paid)
        if self._journal is not None:
            try:
                self._journal.remember_paid(paid)
            except JournalError as exc:
                logger.error("paid order not journalled: %s", exc)

    def resolve(self, entry: JournalEntry, paid: PaidOrder | None) -> None:
        """A journalled payment's outcome is known (``paid``: it was charged)."""
        with self._lock:
            self._journalled.pop(entry.idempotency_key, None)
            if paid is not None:
                self._remember(paid)
        self._journal_settle(entry.idempotency_key, paid)

    def _journal_settle(self, idempotency_key: str, paid: PaidOrder | None) -> None:
        if self._journal is None:
            return
        try:
            self._journal.settle(idempotency_key, paid)
        except JournalError as exc:
            # The entry stays in the file: the next start asks the backend again.
            logger.error("authorization %s not settled in the journal: %s", idempotency_key, exc)

    def _remember(self, paid: PaidOrder) -> None:
        self._approved.pop(paid.basket_reference, None)
        self._approved[paid.basket_reference] = paid
        while len(self._approved) > self._memory:
            self._approved.pop(next(iter(self._approved)))


class RecoveryOutcome(str, enum.Enum):
    """What became of a payment a till left unanswered before it restarted."""

    CHARGED = "charged"  # approved: the order is paid (``receipt``)
    NOT_CHARGED = "not_charged"  # declined, or never stored and no longer can be
    UNKNOWN = "unknown"  # the backend cannot say yet: recover again later


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveredPayment:
    """A journalled payment and its outcome, as ``Till.recover`` reports it to the POS."""

    entry: JournalEntry
    outcome: RecoveryOutcome
    # The backend's answer when it has one (approved or declined); an approval's receipt
    # holds no privacy code (the backend hands it out only with the first answer).
    receipt: Receipt | None = None
    why: str = ""

    @property
    def basket_reference(self) -> str:
        return self.entry.basket_reference

    @property
    def charged(self) -> bool:
        return self.outcome is RecoveryOutcome.CHARGED


def recover(
    ledger: PaymentLedger, client: FacePayClient, now: datetime | None = None
) -> tuple[RecoveredPayment, ...]:
    """Ask the backend what became of every journalled payment (by its session, signed,
    nothing is sent again); settle those it answers, keep the rest."""
    moment = now if now is not None else datetime.now(timezone.utc)
    found = []
    for entry in ledger.journalled:
        recovered = _recover_one(client, entry, moment)
        if recovered.outcome is RecoveryOutcome.CHARGED:
            receipt = recovered.receipt
            ledger.resolve(
                entry,
                PaidOrder(
                    basket_reference=entry.basket_reference,
                    authorization_id=receipt.authorization_id if receipt else None,
                    receipt_id=receipt.receipt_id if receipt else None,
                ),
            )
        elif recovered.outcome is RecoveryOutcome.NOT_CHARGED:
            ledger.resolve(entry, None)
        logger.info(
            "journalled authorization %s: %s", entry.idempotency_key, recovered.outcome.value
        )
        found.append(recovered)
    return tuple(found)


def _recover_one(client: FacePayClient, entry: JournalEntry, now: datetime) -> RecoveredPayment:
    unknown = RecoveryOutcome.UNKNOWN
    if entry.session_id is None:
        return RecoveredPayment(entry=entry, outcome=unknown, why="no session to look it up by")
    try:
        answer = client.authorization_for_session(entry.session_id)
    except BackendError as exc:
        if exc.status == 404 and exc.code == wire.ErrorCode.NOT_FOUND.value:
            # Nothing of this till's is stored in that session: not charged, once the
            # session can take no payment any more (the till's clock may be ahead by
            # the protocol's skew); before then a request still on its way may be.
            expires = entry.session_expires_at
            skew = timedelta(seconds=wire.MAX_CLOCK_SKEW_SECONDS)
            if expires is not None and now > expires + skew:
                return RecoveredPayment(
                    entry=entry,
                    outcome=RecoveryOutcome.NOT_CHARGED,
                    why="the session took no payment and is over",
                )
            return RecoveredPayment(
                entry=entry, outcome=unknown, why="the session took no payment yet"
            )
        return RecoveredPayment(entry=entry, outcome=unknown, why=exc.code or type(exc).__name__)
    if (answer.basket_reference, answer.amount_minor, answer.currency) != (
        entry.basket_reference,
        entry.amount_minor,
        entry.currency,
    ) or (
        entry.step_up_authorization_id is not None
        and answer.authorization_id != entry.step_up_authorization_id
    ):
        # Not this payment's answer, whoever sent it: it proves nothing either way.
        return RecoveredPayment(entry=entry, outcome=unknown, why="the answer is another payment's")
    receipt = Receipt.from_wire(answer, entry.idempotency_key)
    if receipt.status is PaymentStatus.APPROVED:
        if receipt.receipt_id is None:  # not what the backend answers an approval with
            return RecoveredPayment(entry=entry, outcome=unknown, why="an approval without receipt")
        return RecoveredPayment(entry=entry, outcome=RecoveryOutcome.CHARGED, receipt=receipt)
    if receipt.status is PaymentStatus.DECLINED:
        return RecoveredPayment(entry=entry, outcome=RecoveryOutcome.NOT_CHARGED, receipt=receipt)
    if receipt.status is PaymentStatus.STEP_UP and not OrderPayment.from_wire(
        answer
    ).blocks_another_payment(now):
        return RecoveredPayment(
            entry=entry,
            outcome=RecoveryOutcome.NOT_CHARGED,
            receipt=receipt,
            why="its step-up can no longer be answered",
        )
    return RecoveredPayment(entry=entry, outcome=unknown, receipt=receipt, why="a step-up waits")
