"""The kiosk's model: Qt-free, in facepay's types. Widgets draw it; they decide nothing.

For the screens (``kiosk_app/ui``, engineer d2): read ``kiosk_app/model/README.md``.

* :class:`KioskMachine` -- the screen machine: which :class:`Screen` shows, the :class:`Sale`,
  the face attempt, paid and unsettled sales, the lane pause, the attendant queue and the
  signed-in staff. Subscribe to its :data:`KioskEvent` stream; call its methods on input.
* :class:`Outcome` / :class:`OutcomeKind` -- how an attempt ended; one message per kind.
* :class:`CheckoutPort` -- what the machine needs of facepay (``kiosk_app.adapter`` is the
  real one); :func:`process_frame` runs one frame through it on the worker thread.
* Staff: :class:`StaffDirectory`, :class:`StaffLogin`, :class:`StaffAudit`,
  :func:`clamp_settings`. Receipts: :class:`ReceiptChannel` and its adapters.
"""

from __future__ import annotations

from kiosk_app.model._attendant import AttendantQueue, AttendantRequest, RequestKind
from kiosk_app.model._machine import (
    BACK,
    DEFAULT_LANE_PAUSE_S,
    InvalidClaimError,
    KioskEffects,
    KioskEvent,
    KioskMachine,
    LaneChanged,
    LanguageChanged,
    Mode,
    Notice,
    OutcomeShown,
    PinPrompt,
    ProgressShown,
    QueueChanged,
    SaleChanged,
    Screen,
    ScreenChanged,
    StaffChanged,
    Transition,
    phone_claim,
)
from kiosk_app.model._outcome import (
    Outcome,
    OutcomeKind,
    classify_reason,
    outcome_from_end,
    outcome_from_error,
    outcome_from_reason,
    outcome_from_receipt,
    process_frame,
    reconcile_outcome,
    settle,
)
from kiosk_app.model._port import AttemptEnd, BackendHealth, CheckoutPort, StoreProfile
from kiosk_app.model._receipts import (
    ChannelKind,
    EmailReceipt,
    FilePrinter,
    PrintedReceipt,
    PrivacyReceipt,
    ReceiptChannel,
    SmsReceipt,
    public_privacy_url,
)
from kiosk_app.model._sale import Sale
from kiosk_app.model._staff import (
    SETTING_BOUNDS,
    AuditLine,
    LoginPolicy,
    LoginRefusedError,
    StaffAction,
    StaffAudit,
    StaffCredential,
    StaffDirectory,
    StaffLogin,
    clamp_settings,
)

__all__ = [
    "BACK",
    "DEFAULT_LANE_PAUSE_S",
    "SETTING_BOUNDS",
    "AttemptEnd",
    "AttendantQueue",
    "AttendantRequest",
    "AuditLine",
    "BackendHealth",
    "ChannelKind",
    "CheckoutPort",
    "EmailReceipt",
    "FilePrinter",
    "InvalidClaimError",
    "KioskEffects",
    "KioskEvent",
    "KioskMachine",
    "LaneChanged",
    "LanguageChanged",
    "LoginPolicy",
    "LoginRefusedError",
    "Mode",
    "Notice",
    "Outcome",
    "OutcomeKind",
    "OutcomeShown",
    "PinPrompt",
    "PrintedReceipt",
    "PrivacyReceipt",
    "ProgressShown",
    "QueueChanged",
    "ReceiptChannel",
    "RequestKind",
    "Sale",
    "SaleChanged",
    "Screen",
    "ScreenChanged",
    "SmsReceipt",
    "StaffAction",
    "StaffAudit",
    "StaffChanged",
    "StaffCredential",
    "StaffDirectory",
    "StaffLogin",
    "StoreProfile",
    "Transition",
    "clamp_settings",
    "classify_reason",
    "outcome_from_end",
    "outcome_from_error",
    "outcome_from_reason",
    "outcome_from_receipt",
    "phone_claim",
    "process_frame",
    "public_privacy_url",
    "reconcile_outcome",
    "settle",
]
