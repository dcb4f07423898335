"""Answers stored under an Idempotency-Key, and when a request gets one back.

A till that lost an answer retries with the same key and body and gets the stored
answer (``Idempotent-Replayed: true``), after a step-up its final state; the same key
with another body, or from another device, is a ``409`` that says nothing more. Stored
answers hold no privacy code: an approval's is put back from the shopper's wrapped copy,
so it goes when the shopper is deleted.
"""

from __future__ import annotations

from facepay.server import _decision as decision
from facepay.server import _repository as repository
from facepay.server._devices import AuthenticatedDevice
from facepay.server._errors import ApiError
from facepay.server._part import BackendPart
from facepay.wire import AuthorizationResponse, AuthorizationStatus, ErrorCode

__all__ = ["StoredAnswers"]


class StoredAnswers(BackendPart):
    """Replays of authorizations and step-ups."""

    def find(
        self,
        table: str,
        device: AuthenticatedDevice,
        key: str,
        request_hash: str,
    ) -> AuthorizationResponse | None:
        """:meth:`replayed` for the answer stored under ``key`` in ``table``
        (``authorizations`` or ``step_up_answers``)."""
        with self.db.transaction(readonly=True) as tx:
            stored = repository.stored_answer(tx, table, device.tenant_id, key)
        return self.replayed(stored, device, request_hash)

    def replayed(
        self,
        stored: repository.StoredAnswer | None,
        device: AuthenticatedDevice,
        request_hash: str,
    ) -> AuthorizationResponse | None:
        """The stored answer if this device made the same request; None if there is none;
        409 if the key came with another request or from another device.

        Ownership is checked first and answered like any other conflict: another till of
        the tenant learns nothing from a key it found in a log (not the answer, not
        whether its guess of the request, a step-up's last 4 digits say, was right)."""
        if stored is None:
            return None
        if decision.replay_refusal(
            owner_device=stored.device_id,
            device=device.device_id,
            stored_hash=stored.request_hash,
            request_hash=request_hash,
        ):
            raise ApiError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "this Idempotency-Key was already used with a different request",
            )
        # For an authorization the row holds its current answer: after a completed step-up
        # a retry of the first call learns the final outcome, which is what reconciles.
        return self.with_privacy_code(
            AuthorizationResponse.model_validate_json(stored.response_json)
        )

    def with_privacy_code(self, answer: AuthorizationResponse) -> AuthorizationResponse:
        """A stored approval with its privacy code put back from the shopper's wrapped
        copy (stored answers hold none); without one once the shopper is deleted."""
        if answer.status is not AuthorizationStatus.APPROVED or answer.privacy_code:
            return answer
        with self.db.transaction(readonly=True) as tx:
            wrapped = repository.privacy_code_of_authorization(tx, answer.authorization_id)
        if wrapped is None:
            return answer
        code = self.vault.unwrap_secret(wrapped, purpose="privacy-code").decode()
        return answer.model_copy(update={"privacy_code": code})
