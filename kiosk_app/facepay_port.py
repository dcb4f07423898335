"""The kiosk's :class:`~kiosk_app.flow.CheckoutPort` over facepay's real checkout flow.

:class:`TillPort` adapts one ``facepay.Till`` (client + vision + liveness + sealing) to the
calls the kiosk makes from its flow worker thread, and turns every facepay answer or error
into a plain :class:`~kiosk_app.flow.Outcome`. It is the only kiosk module that knows
facepay's checkout types; the screens never see them.

Money safety, in the order things can go wrong:

* the backend is down before anything was sent (opening the session): nothing can have
  been charged -> ``BACKEND_DOWN``, the kiosk offers the card;
* the authorization was sent but its answer was lost: the flow keeps the sealed request
  and its idempotency key (``session.pending``); we reconcile (same key, same body: the
  backend replays its first answer, or decides now) a few times. Only when that also
  fails is the outcome ``PAYMENT_UNKNOWN``: the kiosk then does NOT offer a card (that
  could charge twice), keeps the pending authorization for the attendant, and
  :meth:`TillPort.reconcile_pending` settles it when the backend is back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from facepay import (
    BackendError,
    Basket,
    BasketLine,
    CheckoutConfig,
    CheckoutFailedError,
    CheckoutSession,
    CheckoutState,
    Claim,
    ClaimKind,
    DlibResNetEmbedder,
    EnrollmentSession,
    FacePayError,
    Frame,
    FrameAnalyzer,
    RateLimitedError,
    Receipt,
    Sandbox,
    Till,
    TransportError,
    consent_now,
    fixed_liveness_plan,
    open_source,
    phone_to_e164,  # re-exported: the privacy page normalises with the same function
    seeded_liveness,
)
from kiosk_app import flow
from kiosk_app.flow import (
    BackendHealth,
    BasketSnapshot,
    FaceProgress,
    Outcome,
    OutcomeKind,
    Processing,
    StoreProfile,
    receipt_lines,
)
from kiosk_app.i18n import CATALOGUES, Language

__all__ = [
    "SANDBOX_CARDS",
    "InvalidClaimError",
    "TillPort",
    "connect_port",
    "consent_text_version",
    "open_frame_source",
    "phone_to_e164",
    "start_demo_backend",
]

logger = logging.getLogger(__name__)

# The sandbox's test card tokens (docs/protocol.md) as the simulated card reader hands them
# out: a real POS gets a token from its acquirer; a card number never reaches the kiosk.
SANDBOX_CARDS: tuple[tuple[str, str], ...] = (
    ("tok_visa_4242", "Visa •••• 4242"),
    ("tok_mastercard_5555", "Mastercard •••• 5555"),
    ("tok_visa_1881", "Visa •••• 1881"),
)

_CONSENT_KEYS = (
    "enroll.consent_what",
    "enroll.consent_where",
    "enroll.consent_how_long",
    "enroll.consent_delete",
)


class InvalidClaimError(FacePayError):
    """What the shopper typed is not a phone number (E.164) or loyalty number."""


def consent_text_version(language: Language) -> str:
    """Names the exact consent text shown: changes whenever a word of it changes."""
    text = "\n".join(CATALOGUES[language][k] for k in _CONSENT_KEYS)
    return f"kiosk-{language.value}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def open_frame_source(spec: str | int) -> Any:
    """facepay's frame source for a camera index, a video file or an image folder."""
    return open_source(spec)


class TillPort:
    """One lane's checkout, as the kiosk drives it. Used from ONE thread (the flow worker)."""

    def __init__(
        self,
        till: Till,
        *,
        base_url: str,
        store: StoreProfile,
        country_code: str = "49",
        privacy_url: str = "",
        reconcile_attempts: int = 3,
        reconcile_backoff_s: float = 0.5,
    ) -> None:
        self.till = till
        self.base_url = base_url
        self.store = store
        self.country_code = country_code
        # Where a shopper sees or deletes their data (the retailer's page, which calls the
        # backend's /v1/shoppers/* endpoints); "{code}" is replaced by the privacy code.
        # cc: the page reads a national phone number as this kiosk did (phone_to_e164).
        self.privacy_url = privacy_url or f"{base_url}/privacy?cc={country_code}&code={{code}}"
        self.language = Language.EN
        self._session: CheckoutSession | EnrollmentSession | None = None
        self._basket: BasketSnapshot | None = None
        self._reference_counter = 0
        self.pending: list[Any] = []  # PendingAuthorization objects awaiting an answer
        self._attempts = reconcile_attempts
        self._backoff = reconcile_backoff_s
        self._close_hooks: list[Callable[[], None]] = []
        self.cards: tuple[tuple[str, str], ...] = SANDBOX_CARDS
        # Builds a Till with new thresholds and the same client and models (connect_port).
        self.rebuild_till: Callable[[CheckoutConfig], Till] | None = None
        self._cards = 0

    # ------------------------------------------------------------------ CheckoutPort
    def store_profile(self) -> StoreProfile:
        return self.store

    def health(self) -> BackendHealth:
        try:
            self.till.client.health()
        except FacePayError as exc:
            return BackendHealth(reachable=False, url=self.base_url, detail=type(exc).__name__)
        if self.pending:
            self.reconcile_pending()
        cfg = self.till.config
        return BackendHealth(
            reachable=True,
            url=self.base_url,
            detail=f"{len(self.pending)} awaiting reconciliation" if self.pending else "",
            thresholds={
                "capture_timeout_s": cfg.capture_timeout_s,
                "liveness_timeout_s": cfg.liveness_timeout_s,
                "liveness_challenges": float(cfg.liveness_challenges),
                "fused_frames": float(cfg.fused_frames),
            },
        )

    def begin_payment(self, basket: BasketSnapshot, claim: flow.Claim | None) -> None:
        self.cancel()
        self._basket = basket
        self._reference_counter += 1
        fp_basket = Basket(
            reference=f"kiosk-{int(time.time())}-{self._reference_counter}",
            currency=basket.currency,
            lines=tuple(
                BasketLine(
                    sku=line.sku,
                    description=line.name,
                    quantity=line.quantity,
                    unit_price_minor=line.unit_price_minor,
                )
                for line in basket.lines
            ),
        )
        session = self.till.start_checkout(fp_basket, claim=self._claim(claim))
        session.begin()  # opens the backend session: raises TransportError when down
        self._session = session

    def begin_enrollment(self, claim: flow.Claim, card_token: str) -> None:
        self.cancel()
        consent = consent_now(
            consent_text_version(self.language),
            retention_days=self.store.retention_days,
            locale=self.language.value,
        )
        wire_claim = self._claim(claim)
        assert wire_claim is not None
        session = self.till.start_enrollment(
            consent=consent, claim=wire_claim, payment_method_token=card_token
        )
        session.begin()
        self._session = session

    def feed(self, frame: Frame) -> FaceProgress | Processing | Outcome:
        session = self._session
        if session is None:
            return Outcome(kind=OutcomeKind.CANCELLED)
        fb = session.feed(frame)
        state = fb.state
        if state is CheckoutState.PROCESSING:
            return Processing()
        if state.is_final:
            return self._final_outcome(session)
        return FaceProgress(
            phase="liveness" if state is CheckoutState.LIVENESS else "capture",
            reasons=tuple(fb.reasons),
            face_box=fb.face_box,
            challenge=fb.challenge,
            challenge_index=fb.challenge_index,
            challenge_count=fb.challenge_count,
            seconds_left=fb.seconds_left,
            progress=fb.progress,
            frame_index=fb.frame_index,
        )

    def complete(self) -> Outcome:
        session = self._session
        if session is None:
            return Outcome(kind=OutcomeKind.CANCELLED)
        if isinstance(session, EnrollmentSession):
            try:
                result = session.complete()
            except TransportError as exc:
                return Outcome(kind=OutcomeKind.BACKEND_DOWN, detail=type(exc).__name__)
            except FacePayError as exc:
                return Outcome(kind=OutcomeKind.ERROR, detail=_code(exc))
            self._session = None
            return Outcome(
                kind=OutcomeKind.ENROLLED,
                masked_method=result.masked_payment_method,
                privacy_code=result.privacy_code,
                privacy_url=self.privacy_url.format(code=result.privacy_code),
            )
        return self._authorize(session, session.complete)

    def answer_step_up(self, digits: str) -> Outcome:
        session = self._session
        if not isinstance(session, CheckoutSession):
            return Outcome(kind=OutcomeKind.CANCELLED)
        return self._authorize(session, lambda: session.answer_step_up(digits))

    def link_card(self) -> tuple[str, str]:
        # The demo card reader: every tap reads the next sandbox test card.
        token, masked = self.cards[self._cards % len(self.cards)]
        self._cards += 1
        return token, masked

    def cancel(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        if isinstance(session, CheckoutSession) and session.pending is not None:
            self.pending.append(session.pending)  # money may have moved: keep it
        if not session.state.is_final:
            session.cancel()

    def set_language(self, language: Language) -> None:
        self.language = language

    def configure(self, *, backend_url: str, thresholds: Mapping[str, float]) -> None:
        """The attendant's settings. Thresholds (the till's ``CheckoutConfig``) apply to the
        next shopper; a new backend URL needs this till registered there: on restart."""
        if backend_url and backend_url != self.base_url:
            logger.warning("attendant set backend URL %s: used after a restart", backend_url)
        current = self.till.config
        changes: dict[str, Any] = {}
        for name, value in thresholds.items():
            old = getattr(current, name, None)
            if isinstance(old, bool) or not isinstance(old, (int, float)):
                continue
            new = round(value) if isinstance(old, int) else float(value)
            if new != old:
                changes[name] = new
        if not changes or self.rebuild_till is None:
            return
        try:
            config = dataclasses.replace(current, **changes)
        except (TypeError, ValueError, FacePayError) as exc:
            logger.warning("attendant thresholds refused: %s", exc)
            return
        self.cancel()
        self.till = self.rebuild_till(config)
        logger.info("attendant changed thresholds: %s", ", ".join(sorted(changes)))

    def reconcile_pending(self) -> list[Outcome]:
        settled: list[Outcome] = []
        for pending in list(self.pending):
            try:
                receipt = self.till.reconcile(pending)
            except TransportError:
                break
            except FacePayError as exc:
                logger.warning("reconcile failed: %s", _code(exc))
                continue
            self.pending.remove(pending)
            settled.append(self._receipt_outcome(receipt))
        return settled

    def close(self) -> None:
        self.cancel()
        self.till.close()
        for hook in self._close_hooks:
            hook()

    def add_close_hook(self, hook: Callable[[], None]) -> None:
        self._close_hooks.append(hook)

    # ------------------------------------------------------------------ helpers
    def _claim(self, claim: flow.Claim | None) -> Claim | None:
        if claim is None:
            return None
        try:
            if claim.kind is flow.ClaimKind.PHONE:
                value = phone_to_e164(claim.value, self.country_code)
                return Claim(kind=ClaimKind.PHONE, value=value)
            # A loyalty card, or the app's QR code, which carries the shopper's loyalty id.
            return Claim(kind=ClaimKind.LOYALTY_CARD, value=claim.value)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            # No value in the message: it is personal data and this may be logged.
            raise InvalidClaimError("the claim is not a valid phone or loyalty number") from exc

    def _authorize(self, session: CheckoutSession, send: Callable[[], Receipt]) -> Outcome:
        try:
            receipt = send()
        except TransportError:
            for attempt in range(self._attempts):
                time.sleep(self._backoff * (2**attempt))
                if session.pending is None:
                    break
                try:
                    receipt = session.reconcile()
                    break
                except TransportError:
                    continue
                except FacePayError as exc:
                    return Outcome(kind=OutcomeKind.ERROR, detail=_code(exc))
            else:
                if session.pending is not None:
                    self.pending.append(session.pending)
                    self._session = None
                    return Outcome(kind=OutcomeKind.PAYMENT_UNKNOWN, detail="TransportError")
                return Outcome(kind=OutcomeKind.BACKEND_DOWN, detail="TransportError")
        except CheckoutFailedError as exc:
            return Outcome(
                kind=_failed_kind(exc.reason if hasattr(exc, "reason") else ""), detail=_code(exc)
            )
        except RateLimitedError as exc:
            return Outcome(kind=OutcomeKind.DECLINED, detail=_code(exc))
        except BackendError as exc:
            return Outcome(kind=OutcomeKind.ERROR, detail=_code(exc))
        return self._receipt_outcome(receipt)

    def _receipt_outcome(self, receipt: Receipt) -> Outcome:
        basket = self._basket
        common: dict[str, Any] = {
            "amount_minor": receipt.amount_minor,
            "currency": receipt.currency,
            "minor_digits": basket.minor_digits if basket else 2,
        }
        status = receipt.status.value
        if status == "approved":
            code = receipt.privacy_code or ""
            lines = (*(receipt_lines(basket) if basket else ()), *receipt.lines())
            return Outcome(
                kind=OutcomeKind.APPROVED,
                masked_method=receipt.masked_payment_method or "",
                receipt_lines=lines,
                receipt_id=receipt.receipt_id or "",
                privacy_code=code,
                privacy_url=self.privacy_url.format(code=code) if code else "",
                charged=True,
                **common,
            )
        if status == "step_up":
            if receipt.step_up == "claim":
                return Outcome(kind=OutcomeKind.CLAIM_NEEDED, **common)
            return Outcome(
                kind=OutcomeKind.STEP_UP, step_up_digits=self.store.step_up_digits, **common
            )
        reason = receipt.decline_reason or ""
        kind = {
            "no_match": OutcomeKind.NOT_RECOGNISED,
            "liveness_failed": OutcomeKind.LIVENESS_FAILED,
        }.get(reason, OutcomeKind.DECLINED)
        return Outcome(kind=kind, detail=reason, **common)

    def _final_outcome(self, session: CheckoutSession | EnrollmentSession) -> Outcome:
        failure = session.reason
        reason = failure.value if failure is not None else ""
        if session.liveness_reasons:
            reason += ":" + ",".join(r.value for r in session.liveness_reasons)
        self._session = None
        if session.state is CheckoutState.CANCELLED:
            return Outcome(kind=OutcomeKind.CANCELLED, detail=reason)
        # Reason codes only ("liveness_failed:stalled"): useful to staff, not personal.
        return Outcome(kind=_failed_kind(reason), detail=reason[:120])


def _failed_kind(reason: str) -> OutcomeKind:
    if reason.startswith("liveness_failed"):
        return OutcomeKind.LIVENESS_FAILED
    if reason.startswith("camera_lost"):
        return OutcomeKind.CAMERA_LOST
    if reason.endswith("_timeout"):
        return OutcomeKind.TIMED_OUT
    return OutcomeKind.ERROR


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}:{code}" if code else type(exc).__name__


def connect_port(
    sandbox: Sandbox,
    *,
    currency: str = "EUR",
    challenges: tuple[str, ...] = (),
    claimless_allowed: bool = False,
    country_code: str = "49",
    lane_id: str = "kiosk-1",
    **till_options: Any,
) -> TillPort:
    """Register a new kiosk with a running sandbox and build its port.

    ``challenges``: a fixed liveness plan for a recorded clip standing in for a camera (a
    clip cannot answer random prompts); empty = challenges drawn from the backend's seed,
    as on a real till. ``till_options`` go to ``Till.connect`` (analyzer, embedder,
    transport ...: tests share one loaded model between kiosks).
    """
    device = sandbox.provision_device(store_id="demo-store", lane_id=lane_id)
    # The models load once here and are kept, so the attendant can rebuild the Till with
    # new thresholds without loading them again.
    till_options.setdefault("analyzer", FrameAnalyzer())
    till_options.setdefault("embedder", DlibResNetEmbedder())
    config = till_options.pop("config", None) or CheckoutConfig()
    till = Till.connect(
        sandbox.base_url,
        device_key=device.key,
        device_id=device.device_id,
        claimless_allowed=claimless_allowed,
        config=config,
        liveness=_liveness_factory(challenges, config),
        **till_options,
    )
    store = StoreProfile(
        store_name="facepay demo store",
        currency=currency,
        claimless_allowed=claimless_allowed,
        operator="the facepay sandbox on this computer",
        retention_days=1095,
    )
    port = TillPort(till, base_url=sandbox.base_url, store=store, country_code=country_code)
    port.rebuild_till = lambda new_config: Till(
        till.client,
        analyzer=till_options["analyzer"],
        embedder=till_options["embedder"],
        liveness=_liveness_factory(challenges, new_config),
        config=new_config,
        claimless_allowed=claimless_allowed,
    )
    return port


def _liveness_factory(challenges: tuple[str, ...], config: CheckoutConfig) -> Any:
    return fixed_liveness_plan(*challenges) if challenges else seeded_liveness(config)


def start_demo_backend(
    *, currency: str = "EUR", challenges: tuple[str, ...] = (), claimless_allowed: bool = False
) -> TillPort:
    """Start the embedded sandbox on loopback, register this kiosk, load the models."""
    sandbox = Sandbox().start()
    try:
        port = connect_port(
            sandbox, currency=currency, challenges=challenges, claimless_allowed=claimless_allowed
        )
    except BaseException:
        sandbox.stop()
        raise
    port.add_close_hook(sandbox.stop)
    return port
