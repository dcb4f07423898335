"""The till: what a POS or a kiosk talks to, with its one payment ledger and its signer."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx

from facepay import wire
from facepay._closing import ClosesOnExit
from facepay.checkout._answer_pin import AnswerPinFile
from facepay.checkout._basket import (
    Basket,
    EnrollmentResult,
    OrderPayment,
    Receipt,
)
from facepay.checkout._enrollment import EnrollmentSession
from facepay.checkout._events import (
    CheckoutEvent,
    FailureReason,
)
from facepay.checkout._journal import JournalEntry, TillJournal
from facepay.checkout._ledger import (
    APPROVED_MEMORY,
    PaymentLedger,
    RecoveredPayment,
    recover,
)
from facepay.checkout._machine import (
    FaceFinder,
    FlowParts,
    FrameStream,
    HandCheck,
    LivenessCheck,
    LivenessFactory,
    TemplateFuser,
    TemplateMaker,
)
from facepay.checkout._payment import (
    CheckoutSession,
    PendingAuthorization,
    check_answer,
    is_order_already_paid,
    paid_elsewhere,
    settles_as_not_charged,
)
from facepay.client import FacePayClient
from facepay.config import CheckoutConfig, ClientConfig
from facepay.crypto import (
    BackendPublicKey,
    DeviceKey,
    ReceiptPublicKey,
    SealingSuite,
    pin_refusal,
    seal_enrollment_pin,
    seal_step_up_pin,
    seal_template,
    sign_request,
    verify_receipt,
)
from facepay.errors import (
    BackendError,
    CheckoutError,
    ConfigurationError,
    InvalidSignatureError,
    WeakPinError,
)
from facepay.types import (
    FaceTemplate,
    Frame,
    SealedTemplate,
)

if TYPE_CHECKING:
    from facepay.vision import FrameAnalyzer as VisionFrameAnalyzer
    from facepay.vision import HandCoverageDetector

__all__ = [
    "DeviceSigner",
    "SessionSealer",
    "Till",
    "seeded_liveness",
]


class DeviceSigner:
    """Signs the client's requests as one registered till (device id + Ed25519 key).

    Adapts :class:`facepay.crypto.DeviceKey` to the client's ``RequestSigner`` seam (the
    client does not import ``facepay.crypto``: stages stay independent).
    """

    def __init__(self, key: DeviceKey, device_id: str) -> None:
        self._key = key
        self.device_id = device_id

    def sign_request(
        self, method: str, path: str, body: bytes, idempotency_key: str | None = None
    ) -> Mapping[str, str]:
        return sign_request(
            self._key,
            device_id=self.device_id,
            method=method,
            target=path,
            body=body,
            idempotency_key=idempotency_key,
        )

    def __repr__(self) -> str:
        return f"DeviceSigner(device_id={self.device_id!r})"


# How far a deletion receipt's ``deleted_at`` may lie from the till's clock: the backend
# refuses a till whose signed requests are more than 300 s off its clock (docs/protocol.md),
# so a receipt of this deletion is well inside twice that.
_RECEIPT_FRESH_S = 600.0


class SessionSealer:
    """Seals a template, or a shopper's PIN, to the key the backend session names (fetched
    from ``GET /v1/keys`` and kept; fetched again when a session names a key it does not
    know, a rotation, and after the backend could not open a seal: :meth:`forget_keys`)."""

    def __init__(self, client: FacePayClient) -> None:
        self._client = client
        self._keys: dict[str, BackendPublicKey] = {}

    def seal(self, template: FaceTemplate, session: wire.CheckoutSessionInfo) -> SealedTemplate:
        key = self._key(session.sealing_key_id)
        return seal_template(template, key, session_id=session.session_id)

    def forget_keys(self) -> None:
        self._keys = {}

    def seal_enrollment_pin(self, pin: str, session: wire.CheckoutSessionInfo) -> str:
        key = self._key(session.sealing_key_id)
        return wire.b64encode(seal_enrollment_pin(pin, key, session_id=session.session_id))

    def seal_step_up_pin(
        self, pin: str, session: wire.CheckoutSessionInfo, authorization_id: str
    ) -> str:
        key = self._key(session.sealing_key_id)
        return wire.b64encode(seal_step_up_pin(pin, key, authorization_id=authorization_id))

    def _key(self, key_id: str) -> BackendPublicKey:
        if key_id not in self._keys:
            keyset = self._client.get_keys()
            self._keys = {
                k.key_id: BackendPublicKey(
                    key_id=k.key_id,
                    suite=SealingSuite.parse(k.suite),
                    raw=wire.b64decode(k.public_key),
                )
                for k in keyset.keys
            }
        if key_id not in self._keys:
            raise CheckoutError(f"the backend does not publish sealing key {key_id!r}")
        return self._keys[key_id]


class Till(ClosesOnExit):
    """A checkout lane: what a POS or a kiosk talks to. Hand it a basket, get a receipt.

    Build it once per lane (the face models load once) with :meth:`connect`, then:

    * ``till.pay(basket, camera, claim=...)`` -> :class:`Receipt` (headless, e.g. a POS);
    * ``till.start_checkout(basket, ...)`` -> :class:`CheckoutSession` for a UI that feeds
      camera frames itself and draws the prompts (the kiosk);
    * ``till.enroll(camera, consent=..., claim=..., payment_method_token=...)``;
    * ``till.reconcile(pending)`` after a lost answer; and the shopper's rights:
      :meth:`export_shopper`, :meth:`withdraw_consent`, :meth:`delete_shopper`.

    ``liveness`` builds a liveness session from the backend session's seed. The default
    draws the challenges from that seed (what a real till must do); a demo may pass
    :func:`facepay.testing.fixed_liveness_plan` to ask for challenges a recorded clip
    performs. ``hands`` looks for a hand over the face on the frames a template is made
    of (default: :class:`facepay.vision.HandCoverageDetector`, loaded on first use;
    docs/quality.md, "A hand over the face").

    ``journal`` is a file (created 0600) where the till keeps what it sent without an
    answer and the orders it saw paid: a till built on the same file after a crash
    refuses those orders, and :meth:`recover` finds what became of each payment. No
    template, PIN or seal is ever written there (:class:`JournalError` if the file is
    not a till journal, or is damaged; it is left as it was).
    """

    def __init__(
        self,
        client: FacePayClient,
        *,
        analyzer: FaceFinder | None = None,
        embedder: TemplateMaker | None = None,
        fuse: TemplateFuser | None = None,
        liveness: LivenessFactory | None = None,
        config: CheckoutConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        claimless_allowed: bool = False,
        hands: HandCheck | None = None,
        journal: str | os.PathLike[str] | None = None,
    ) -> None:
        self.client = client
        # Opened first: a journal that cannot be used fails the till before a model loads.
        self._journal = (
            TillJournal(journal, paid_memory=APPROVED_MEMORY) if journal is not None else None
        )
        self.config = config if config is not None else CheckoutConfig()
        self.claimless_allowed = claimless_allowed
        if embedder is None:
            embedder = _default_embedder()
        self._sealer = SessionSealer(client)
        # The till closes what it built (the face mesh graph), not what it was given.
        self._built_analyzer: VisionFrameAnalyzer | None = None
        if analyzer is None:
            analyzer = self._built_analyzer = _default_analyzer()
        # Looks for a hand over the shopper's face (the models load on first use).
        self._built_hands: HandCoverageDetector | None = None
        if hands is None:
            hands = self._built_hands = _default_hands()
        self._parts = FlowParts(
            client=client,
            analyzer=analyzer,
            embedder=embedder,
            fuse=fuse if fuse is not None else _default_fuser(embedder),
            liveness=liveness if liveness is not None else seeded_liveness(self.config),
            sealer=self._sealer,
            config=self.config,
            clock=clock,
            hands=hands,
        )
        self.ledger = PaymentLedger(journal=self._journal)

    @classmethod
    def connect(
        cls,
        base_url: str,
        *,
        device_key: DeviceKey,
        device_id: str,
        client_config: ClientConfig | None = None,
        transport: httpx.BaseTransport | None = None,
        answer_pin_file: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> Till:
        """A till for the backend at ``base_url``, signing as ``device_id``.

        ``answer_pin_file``: for a till without ``ClientConfig.answer_key_pin`` (a backend
        on this machine), a file (0600) that keeps the answer key it learns, and the key
        it follows after an endorsed rotation; a restarted till believes only that key.
        """
        pin_file = AnswerPinFile(answer_pin_file) if answer_pin_file is not None else None
        if pin_file is not None:
            if client_config is not None and client_config.answer_key_pin is not None:
                raise ConfigurationError(
                    "answer_pin_file keeps a learned answer key pin: give it or "
                    "ClientConfig.answer_key_pin, not both"
                )
            kept = pin_file.load()
            if kept is not None:
                client_config = dataclasses.replace(
                    client_config or ClientConfig(), answer_key_pin=kept
                )
        client = FacePayClient(
            base_url,
            signer=DeviceSigner(device_key, device_id),
            config=client_config,
            transport=transport,
        )
        if pin_file is not None:
            client.on_new_answer_pin = pin_file.keep
        return cls(client, **kwargs)

    def close(self) -> None:
        self.client.close()
        if self._journal is not None:
            self._journal.close()
        if self._built_analyzer is not None:
            self._built_analyzer.close()
            self._built_analyzer = None
        if self._built_hands is not None:
            self._built_hands.close()
            self._built_hands = None

    # ---------------------------------------------------------------- flows

    @staticmethod
    def check_pin(pin: str) -> None:
        """Raise :class:`WeakPinError` if ``pin`` cannot be a shopper's PIN (not exactly
        4 digits, or one an attacker tries first: 0000, 1234, 1212, ...); its ``reason``
        (a ``facepay.types.PinRefusal``, a str enum) says which. For a UI that checks
        the PIN as it is typed, before it starts the enrollment."""
        refusal = pin_refusal(pin)
        if refusal is not None:
            raise WeakPinError(refusal)

    def start_checkout(
        self,
        basket: Basket,
        *,
        claim: wire.Claim | None = None,
        camera_name: str | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> CheckoutSession:
        """A new payment attempt for ``basket``; call ``begin()`` on it to start.

        ``basket.reference`` is the POS's sale id: it reaches the backend's ledger as
        ``basket_reference``. Refuses an order this till saw approved, or whose answer was
        lost and is not reconciled yet: a POS that sends the same order twice gets an
        error, not a second charge. ``camera_name`` is the camera's device name (a UI
        that feeds frames itself passes it, so liveness refuses a virtual camera).
        """
        self.ledger.refuse_if_open(basket.reference)
        return CheckoutSession(
            self._parts,
            basket,
            claim=claim,
            claimless_allowed=self.claimless_allowed,
            camera_name=camera_name,
            ledger=self.ledger,
            on_event=on_event,
            pin_sealer=self._sealer,
        )

    def start_enrollment(
        self,
        *,
        consent: wire.ConsentRecord,
        claim: wire.Claim,
        payment_method_token: str,
        camera_name: str | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
        pin: str | None = None,
    ) -> EnrollmentSession:
        """A new enrollment; ``camera_name`` as for :meth:`start_checkout`.

        ``pin``: the 4-digit PIN the shopper chose (optional): a later payment whose face
        is just short of the match asks for it instead of declining. Refused at once with
        :class:`WeakPinError` (its ``reason`` a ``PinRefusal``) when it is not 4 digits or
        is one an attacker tries first (0000, 1234, 1212, ...): nothing is started."""
        if pin is not None:
            self.check_pin(pin)
        return EnrollmentSession(
            self._parts,
            consent=consent,
            claim=claim,
            payment_method_token=payment_method_token,
            camera_name=camera_name,
            on_event=on_event,
            pin=pin,
            pin_sealer=self._sealer,
        )

    def pay(
        self,
        basket: Basket,
        camera: FrameStream | Iterable[Frame],
        *,
        claim: wire.Claim | None = None,
        on_event: Callable[[CheckoutEvent], None] | None = None,
    ) -> Receipt:
        """Take a face payment for ``basket`` with frames from ``camera``.

        Returns the backend's answer (approved, declined or step-up). Raises
        :class:`PaymentNotTakenError` when no decision was reached (nothing was charged)
        and :class:`PaymentUnansweredError` when the answer was lost: then its ``pending``
        (also kept in :attr:`unanswered`) must go to :meth:`reconcile` before any other
        payment.
        """
        session = self.start_checkout(basket, claim=claim, on_event=on_event)
        try:
            return session.pay(camera)
        finally:
            if session.pending is None and not session.state.is_final:
                session.cancel(FailureReason.ABANDONED)

    def enroll(
        self,
        camera: FrameStream | Iterable[Frame],
        *,
        consent: wire.ConsentRecord,
        claim: wire.Claim,
        payment_method_token: str,
        on_event: Callable[[CheckoutEvent], None] | None = None,
        pin: str | None = None,
    ) -> EnrollmentResult:
        """Enroll a shopper who accepted ``consent``, with frames from ``camera``; ``pin``
        as for :meth:`start_enrollment`."""
        session = self.start_enrollment(
            consent=consent,
            claim=claim,
            payment_method_token=payment_method_token,
            on_event=on_event,
            pin=pin,
        )
        try:
            return session.enroll(camera)
        finally:
            if not session.state.is_final:
                session.cancel(FailureReason.ABANDONED)

    @property
    def unanswered(self) -> tuple[PendingAuthorization, ...]:
        """Payments this till's sessions sent whose answer was lost: reconcile them first."""
        return self.ledger.unanswered

    def reconcile(self, pending: PendingAuthorization) -> Receipt:
        """What happened to an authorization whose answer was lost (charges at most once).

        Returns the backend's answer, once it names this payment's order, amount and
        currency (otherwise :class:`ServerError` ``answer_mismatch``: still pending).
        When the backend refuses the request for good (the
        session is over or unknown, no such authorization: :func:`settles_as_not_charged`)
        nothing was charged: ``pending`` leaves :attr:`unanswered`, its order may be paid
        again, and the refusal is raised. Any other error (no answer, a 5xx, a 401 or a
        429) leaves it pending: reconcile it again later.
        """
        try:
            answer = pending.send(self.client)
            check_answer(pending, answer)
        except BackendError as exc:
            if settles_as_not_charged(exc):
                self.ledger.settle(pending, None)
            reference = pending.basket_reference
            if is_order_already_paid(exc) and reference is not None:
                # Never stored (a stored one is replayed): another payment paid the order.
                raise paid_elsewhere(self.client, self.ledger, reference) from exc
            raise
        receipt = Receipt.from_wire(answer, pending.attempt_key or pending.idempotency_key)
        self.ledger.settle(pending, receipt)
        return receipt

    @property
    def journalled(self) -> tuple[JournalEntry, ...]:
        """Payments this till left unanswered before it restarted (found in its journal):
        :meth:`recover` them; their orders are refused until then."""
        return self.ledger.journalled

    def recover(self, now: datetime | None = None) -> tuple[RecoveredPayment, ...]:
        """After a restart with a journal: what became of each payment the till left
        unanswered (:attr:`journalled`), asked by its session (signed; nothing is sent
        again: the journal holds no template to send). Each comes back ``charged``
        (approved: its ``receipt``, and the order is refused from now on),
        ``not_charged`` (declined, or never stored and its session is over) or
        ``unknown`` (no answer now, or its session or step-up can still take it: it
        stays journalled and its order refused; recover again later). ``now`` is the
        till's time (default: the wall clock, UTC). Call it once at start, before the
        first sale."""
        return recover(self.ledger, self.client, now)

    def order_payments(self, basket_reference: str) -> tuple[OrderPayment, ...]:
        """The payments the backend holds for an order, oldest first, as each stands now
        (at most the backend's cap, 50 by default: the approval and any step-up always
        among them, the oldest declines left out first): what a POS asks after a crash
        when the till had no journal, or at another lane. Any till of the retailer may
        ask, so a sale moved to another lane is found too. Take no card for the order
        while one of them :meth:`~OrderPayment.blocks_another_payment` (approved, or
        waiting for a step-up that can still be answered); an empty tuple: nothing was
        ever charged for it."""
        answer = self.client.order_authorizations(basket_reference)
        return tuple(OrderPayment.from_wire(a) for a in answer.authorizations)

    # ---------------------------------------------------------------- shopper rights

    def export_shopper(self, privacy_code: str, claim: wire.Claim) -> wire.ShopperExport:
        return self.client.export_shopper(privacy_code, claim)

    def withdraw_consent(
        self, privacy_code: str, claim: wire.Claim
    ) -> wire.WithdrawConsentResponse:
        return self.client.withdraw_consent(privacy_code, claim)

    def delete_shopper(self, privacy_code: str, claim: wire.Claim) -> wire.DeletionReceipt:
        """Delete the shopper and return the backend's signed deletion receipt, verified
        against the receipt key the backend publishes (``GET /v1/keys``) before the till
        hands it to the shopper: :class:`InvalidSignatureError` if it does not verify, or
        if its ``deleted_at`` is more than 10 minutes from the till's clock (a genuine
        receipt recorded earlier and handed back instead of this deletion's)."""
        receipt = self.client.delete_shopper(privacy_code, claim)
        keys = self.client.get_keys()
        verify_receipt(
            receipt.model_dump(mode="json"),
            ReceiptPublicKey(wire.b64decode(keys.receipt_public_key), key_id=keys.receipt_key_id),
        )
        # A genuine receipt recorded earlier (another shopper's, or this one's from before
        # they enrolled again), handed back instead of the answer, proves nothing now.
        deleted_at = receipt.deleted_at
        if deleted_at.tzinfo is None:
            deleted_at = deleted_at.replace(tzinfo=timezone.utc)
        if abs((datetime.now(timezone.utc) - deleted_at).total_seconds()) > _RECEIPT_FRESH_S:
            raise InvalidSignatureError()
        return receipt


def _default_analyzer() -> VisionFrameAnalyzer:
    from facepay.vision import FrameAnalyzer

    return FrameAnalyzer()


def _default_hands() -> HandCoverageDetector:
    from facepay.vision import HandCoverageDetector

    return HandCoverageDetector()


def _default_embedder() -> TemplateMaker:
    from facepay.vision import DlibResNetEmbedder

    return DlibResNetEmbedder()


def _default_fuser(embedder: TemplateMaker) -> TemplateFuser:
    fuse = getattr(embedder, "fuse", None)
    if callable(fuse):
        return fuse  # type: ignore[no-any-return]
    from facepay.vision import fuse_templates

    return fuse_templates


def seeded_liveness(config: CheckoutConfig | None = None) -> LivenessFactory:
    """The real till's liveness: challenges drawn from the backend session's seed."""
    count = (config or CheckoutConfig()).liveness_challenges

    def build(seed: bytes, camera_name: str | None) -> LivenessCheck:
        from facepay.liveness import ChallengePlan, LivenessSession

        plan = ChallengePlan.from_seed(seed, count=count)
        session: LivenessCheck = LivenessSession(plan, device_name=camera_name)
        return session

    return build
