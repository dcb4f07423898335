"""Red team, signed answers: a till without a pin, restarted.

A till given no ``ClientConfig.answer_key_pin`` (a backend on this machine) believes the
key of its first signed answer. Kept only in memory, a restart would learn afresh from
whatever answers first: another backend on the same machine, or a proxy. With
``Till.connect(..., answer_pin_file=PATH)`` the learned key (and the key it follows after
an endorsed rotation) is kept in a 0600 file, and the restarted till believes only it.

Real ``Till``, client, CLI and sandboxes over HTTP (SQLite), synthetic faces; "another
backend" is a second sandbox on loopback with its own answer key; the rotated-out key in
an attacker's hands signs through ``till_kit.RewritingProxy``.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from answers_kit import proxy_signed
from till_kit import RewritingProxy

import facepay.testing as kit
from facepay.checkout import Till
from facepay.config import ClientConfig
from facepay.crypto import ReceiptSigner
from facepay.errors import ConfigurationError, ServerError

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


def connect(sandbox_url: str, device: kit.ProvisionedDevice, pin_file: Path, **kw: Any) -> Till:
    return Till.connect(
        sandbox_url,
        device_key=device.key,
        device_id=device.device_id,
        answer_pin_file=pin_file,
        **kit.SyntheticFaces().till_parts(),
        **kw,
    )


def test_a_restarted_till_believes_only_the_key_it_learned(tmp_path: Path) -> None:
    pin_file = tmp_path / "answer-key.pin"
    with kit.Sandbox() as genuine, kit.Sandbox() as other:
        device = genuine.provision_device()
        assert genuine.answer_key_pin != other.answer_key_pin
        with connect(genuine.base_url, device, pin_file) as till:
            assert not pin_file.exists()
            till.client.get_keys()
            assert till.client.answer_key_pin == genuine.answer_key_pin
        assert pin_file.read_text() == f"{genuine.answer_key_pin}\n"
        assert stat.S_IMODE(pin_file.stat().st_mode) == 0o600

        # Restarted: whatever answers first is another backend, with its own key.
        with connect(other.base_url, device, pin_file) as restarted:
            assert restarted.client.answer_key_pin == genuine.answer_key_pin
            with pytest.raises(ServerError) as err:
                restarted.client.get_keys()
            assert err.value.code == "answer_mismatch"
        assert pin_file.read_text() == f"{genuine.answer_key_pin}\n"

        # Without the file, the same restart would have believed the other backend.
        with Till.connect(
            other.base_url,
            device_key=device.key,
            device_id=device.device_id,
            **kit.SyntheticFaces().till_parts(),
        ) as forgetful:
            forgetful.client.get_keys()
            assert forgetful.client.answer_key_pin == other.answer_key_pin

        with connect(genuine.base_url, device, pin_file) as again:
            assert again.client.get_keys().receipt_public_key


def test_a_followed_rotation_is_kept_and_the_rotated_out_key_believed_no_more(
    tmp_path: Path,
) -> None:
    pin_file = tmp_path / "answer-key.pin"
    db, keys, port = tmp_path / "backend.db", tmp_path / "keys", kit.free_port()
    url = f"http://127.0.0.1:{port}"
    with kit.Sandbox(db, key_dir=keys, port=port) as sandbox:
        old_pin = sandbox.answer_key_pin
        device = sandbox.provision_device()
    prepared = operator("rotate-answer-key", "--keys", str(keys))
    old = ReceiptSigner.load(keys / "receipt-key.json")

    with connect(url, device, pin_file) as till:
        with kit.Sandbox(db, key_dir=keys, port=port):
            till.client.get_keys()  # learns the current key; the key set names the next
        assert pin_file.read_text() == f"{old_pin}\n"
        switched = operator("rotate-answer-key", "--keys", str(keys), "--switch")
        new_pin = switched["answer_key_pin"]
        assert new_pin == prepared["next_answer_key_pin"] != old_pin
        with kit.Sandbox(db, key_dir=keys, port=port):
            till.client.get_keys()  # the first answer the new key signs: followed
        assert till.client.answer_key_pin == new_pin
    assert pin_file.read_text() == f"{new_pin}\n"
    assert stat.S_IMODE(pin_file.stat().st_mode) == 0o600

    # Restarted: the rotated-out key, in an attacker's hands, signs this request's key set.
    proxy = RewritingProxy()
    with (
        kit.Sandbox(db, key_dir=keys, port=port) as sandbox,
        connect(url, device, pin_file, transport=proxy) as restarted,
    ):
        assert restarted.client.answer_key_pin == new_pin
        real = httpx.get(f"{sandbox.base_url}{KEYS}").json()
        forged = {**real, "receipt_public_key": old.public_key.to_base64()}
        proxy.paths, proxy.forward = (KEYS,), False
        proxy.rewrite = lambda request, _: proxy_signed(request, 200, forged, old)
        with pytest.raises(ServerError) as err:
            restarted.client.get_keys()
        assert err.value.code == "answer_mismatch"
        proxy.forward, proxy.rewrite = True, None
        assert restarted.client.get_keys().receipt_public_key == real["receipt_public_key"]
    assert pin_file.read_text() == f"{new_pin}\n"


def test_a_damaged_pin_file_or_a_second_pin_is_refused_at_connect(tmp_path: Path) -> None:
    pin_file = tmp_path / "answer-key.pin"
    with kit.Sandbox() as sandbox:
        device = sandbox.provision_device()
        pin_file.write_text("not a pin\n")
        with pytest.raises(ConfigurationError, match="not an answer key pin"):
            connect(sandbox.base_url, device, pin_file)
        pin_file.unlink()
        with pytest.raises(ConfigurationError, match="not both"):
            connect(
                sandbox.base_url,
                device,
                pin_file,
                client_config=ClientConfig(answer_key_pin=sandbox.answer_key_pin),
            )
        assert not pin_file.exists()


def test_a_pin_file_that_cannot_be_written_never_costs_the_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer that taught the key is believed already (it may be a payment's): a file
    that cannot be written is a warning, the pin stays in memory."""
    folder = tmp_path / "pins"
    folder.mkdir()
    pin_file = folder / "answer-key.pin"
    with kit.Sandbox() as sandbox:
        device = sandbox.provision_device()
        with connect(sandbox.base_url, device, pin_file) as till:
            folder.rmdir()  # the disk went away after start-up
            assert till.client.get_keys().receipt_public_key
            assert till.client.answer_key_pin == sandbox.answer_key_pin
    assert not pin_file.exists()
    assert "the answer key pin could not be kept" in caplog.text
