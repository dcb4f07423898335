"""Red team, the till's side: a deletion receipt that is genuine but not this deletion's.

``Till.delete_shopper`` verifies the backend's signature before it hands the receipt to
the shopper. The attack: a proxy keeps a real deletion receipt (signed by the backend's
receipt key, another shopper's, recorded yesterday), drops a shopper's deletion request
and hands the till that receipt instead. Before: it verified, and the shopper was told
their data was gone while the backend never saw the request. Now every answer is signed
by the backend for the request it answers (docs/protocol.md, "Signed answers"): the
receipt is genuine, the answer carrying it is not this request's, so it is a
``ServerError`` ``answer_mismatch`` and the shopper is told nothing was deleted; they
can still pay, and delete for real. (A receipt's ``deleted_at`` more than 10 minutes
from the till's clock is refused as well, ``InvalidSignatureError``.) An old genuine
deletion *answer* handed back is tried in ``test_redteam_answers_replay.py``.

Real ``Till``, client and sandbox over HTTP (SQLite and PostgreSQL), synthetic faces; the
proxy is ``till_kit.RewritingProxy``; "recorded yesterday" is a receipt the test signs
with the sandbox's own receipt key, byte for byte what the backend signed then.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from till_kit import RewritingProxy, basket, signed_by_backend

import facepay
import facepay.testing as kit
from facepay.checkout import Till
from facepay.crypto import ReceiptSigner
from facepay.errors import InvalidSignatureError, ServerError

DELETE = "/v1/shoppers/delete"


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def till(proxied_till: Till) -> Till:
    return proxied_till


def enroll_with_code(
    till: Till, faces: kit.SyntheticFaces, seed: int
) -> tuple[Any, facepay.Claim, str]:
    person = kit.face(seed)
    claim = facepay.Claim(kind=facepay.ClaimKind.PHONE, value=f"+4915199{seed:06d}")
    result = till.enroll(
        faces.camera(f"enroll-{seed}", person),
        consent=facepay.consent_now("2026-01-en"),
        claim=claim,
        payment_method_token="tok_visa_4242",
    )
    return person, claim, result.privacy_code


def test_a_genuine_receipt_from_yesterday_handed_back_for_todays_deletion_is_refused(
    till: Till,
    faces: kit.SyntheticFaces,
    proxy: RewritingProxy,
    keys: Path,
    sandbox: kit.Sandbox,
) -> None:
    person, claim, code = enroll_with_code(till, faces, 101)
    signer = ReceiptSigner.load(keys / "receipt-key.json")
    yesterday = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    recorded: dict[str, Any] = {
        "receipt_id": "del_0123456789abcdef01234567",
        "shopper_id": "shp_0123456789abcdef01234567",
        "deleted_at": yesterday.isoformat().replace("+00:00", "Z"),
        "erased": ["template_data_key", "template", "claim", "privacy_code", "payment_method"],
        "receipt_key_id": signer.key_id,
    }
    recorded["signature"] = signer.sign(recorded)

    def replay(request: httpx.Request, real: dict[str, Any] | None) -> httpx.Response:
        return httpx.Response(200, json=recorded, request=request)

    proxy.paths, proxy.forward, proxy.rewrite = (DELETE,), False, replay
    # The receipt verifies, but the answer that carries it is not the backend's answer to
    # this request (docs/protocol.md, "Signed answers"): not believed.
    with pytest.raises(ServerError) as err:
        till.delete_shopper(code, claim)
    assert err.value.code == "answer_mismatch"
    # Even an answer signed by the backend's own key for this request (a backend that
    # replays a stale receipt) is refused for its date.
    proxy.rewrite = lambda request, real: signed_by_backend(sandbox, replay(request, real))
    with pytest.raises(InvalidSignatureError):
        till.delete_shopper(code, claim)

    # Nothing was deleted, and the till did not say it was: the shopper still pays...
    proxy.rewrite = None
    sale = basket(432)
    assert till.pay(
        sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim
    ).approved
    # ... and deletes for real through an honest network (this receipt is fresh).
    receipt = till.delete_shopper(code, claim)
    assert receipt.receipt_id != recorded["receipt_id"]
    later = basket(433)
    declined = till.pay(later, faces.camera(later.reference, kit.same_face(person, 2)), claim=claim)
    assert not declined.approved
