"""Payments: one authorization decided and written to the ledger, and the step-up that
finishes one left open. A payment, one short module a step:

1. ``authorize`` (:class:`Payments`): what the decision needs, read at once; a stored
   answer under the Idempotency-Key replayed (``replays``, facepay.server._answers); a
   locked subject or an unusable session refused (facepay.server._lockouts,
   facepay.server._sessions); the sealed probe opened (facepay.server._galleries).
2. ``matching``: liveness and the face decide, a claim 1:1 or claimless 1:N within the
   risk budget (facepay.server._decision, facepay.server._gallery), with a grey zone
   that asks the one candidate's PIN.
3. ``answer``: the payer's row and the acquirer turn a match into an approval.
4. ``recording``: the ledger row, the session spent, the failures counted, the payer's
   last use and the audit line, in one transaction (one statement on PostgreSQL).
5. ``learning``: after an approval on the face, the shopper's template set may learn
   from it (facepay.server._templates); it never fails the payment.
6. ``step_ups``: the PIN or the phone's last digits that finish a step-up.
"""

from __future__ import annotations

from facepay.server._payments.answer import Acquirer
from facepay.server._payments.authorize import Payments

__all__ = ["Acquirer", "Payments"]
