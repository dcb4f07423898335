"""Red team, signed answers: a rotation of the backend's answer key, end to end.

The operator prepares the next answer key (``facepay sandbox rotate-answer-key``): the
key set publishes it endorsed by the current key, and a till pinned to the current key
that fetched it follows the switch (``--switch``) on the first answer the new key signs,
and from then on believes the rotated-out key no more. An attacker who later holds the
rotated-out private key signs a key set with it, bound to the till's very request: not
believed (docs/protocol.md, "Signed answers"; docs/crypto.md, "Key rotation procedures").

Real ``Till``, client, CLI and sandbox over HTTP (SQLite: the key directory is what
rotates), synthetic faces; the attacker's network is ``till_kit.RewritingProxy``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from answers_kit import proxy_signed
from till_kit import RewritingProxy, basket, booked, enroll

import facepay.testing as kit
from facepay.checkout import Till
from facepay.config import ClientConfig
from facepay.crypto import ReceiptSigner
from facepay.errors import ServerError

KEYS = "/v1/keys"
REPO = Path(__file__).resolve().parents[2]


def operator(*argv: str) -> dict[str, Any]:
    """``facepay sandbox ARGV --json``, as the operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "facepay", "sandbox", *argv, "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_till_follows_an_endorsed_rotation_and_believes_the_rotated_out_key_no_more(
    tmp_path: Path,
) -> None:
    faces = kit.SyntheticFaces()
    db, keys, port = tmp_path / "backend.db", tmp_path / "keys", kit.free_port()
    with kit.Sandbox(db, key_dir=keys, port=port) as sandbox:
        old_pin = sandbox.answer_key_pin
        device = sandbox.provision_device(tenant_id="demo-retailer", lane_id="lane-1")
    prepared = operator("rotate-answer-key", "--keys", str(keys))
    old = ReceiptSigner.load(keys / "receipt-key.json")

    proxy = RewritingProxy()
    with Till.connect(
        f"http://127.0.0.1:{port}",
        device_key=device.key,
        device_id=device.device_id,
        transport=proxy,
        client_config=ClientConfig(answer_key_pin=old_pin),
        **faces.till_parts(),
    ) as till:
        with kit.Sandbox(db, key_dir=keys, port=port) as sandbox:
            assert sandbox.answer_key_pin == old_pin  # prepared, not switched
            person, claim = enroll(till, faces, 401)  # the key set names the next key

        switched = operator("rotate-answer-key", "--keys", str(keys), "--switch")
        assert switched["answer_key_pin"] == prepared["next_answer_key_pin"] != old_pin

        with kit.Sandbox(db, key_dir=keys, port=port) as sandbox:
            assert sandbox.answer_key_pin == switched["answer_key_pin"]
            sale = basket(432)
            paid = till.pay(
                sale, faces.camera(sale.reference, kit.same_face(person, 1)), claim=claim
            )
            assert paid.approved
            assert till.client.answer_key_pin == switched["answer_key_pin"]
            assert booked(sandbox, sale.reference) == [("approved", 432)]

            # The rotated-out key, in an attacker's hands, signs a key set for this request.
            real = httpx.get(f"{sandbox.base_url}{KEYS}").json()
            forged = {**real, "receipt_public_key": old.public_key.to_base64()}
            proxy.paths, proxy.forward = (KEYS,), False
            proxy.rewrite = lambda request, _: proxy_signed(request, 200, forged, old)
            with pytest.raises(ServerError) as err:
                till.client.get_keys()
            assert err.value.code == "answer_mismatch"
            proxy.forward, proxy.rewrite = True, None
            assert till.client.get_keys().receipt_public_key == real["receipt_public_key"]
