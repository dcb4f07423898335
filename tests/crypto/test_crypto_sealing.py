"""Sealing templates to the backend: round trips, binding, rotation, opaque failures."""

from __future__ import annotations

import dataclasses
import os
import pickle
import stat

import numpy as np
import pytest

from facepay.crypto import (
    BackendKeyPair,
    BackendPublicKey,
    SealingKeyring,
    SealingSuite,
    open_bytes,
    open_template,
    seal_bytes,
    seal_template,
    sealed_template_from_dict,
    sealed_template_to_dict,
)
from facepay.errors import CryptoError, SealedDataError, TemplateFormatError
from facepay.types import FaceTemplate, SealedTemplate

ALL_SUITES = list(SealingSuite)


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _template(dim: int = 128, seed: int = 1) -> FaceTemplate:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=dim).astype(np.float32)
    return FaceTemplate(vector=v / np.linalg.norm(v), model_id="dlib-resnet-v1", frames_fused=5)


def _opaque(exc: pytest.ExceptionInfo[SealedDataError]) -> tuple[type, str, object, object]:
    e = exc.value
    return (type(e), str(e), e.__cause__, e.__context__)


@pytest.fixture(scope="module")
def rings() -> dict[SealingSuite, SealingKeyring]:
    return {s: SealingKeyring.generate(suite=s) for s in ALL_SUITES}


@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.value)
def test_round_trip_every_suite(
    rings: dict[SealingSuite, SealingKeyring], suite: SealingSuite
) -> None:
    ring = rings[suite]
    t = _template()
    sealed = seal_template(t, ring.public_key, session_id="cs_1", tenant_id="acme", device_id="d1")
    assert sealed.suite == suite.value
    assert sealed.key_id == ring.current.key_id
    assert t.vector.tobytes() not in sealed.ciphertext
    opened = open_template(sealed, ring, session_id="cs_1", tenant_id="acme", device_id="d1")
    np.testing.assert_array_equal(opened.vector, t.vector)
    assert opened.model_id == t.model_id
    assert opened.frames_fused == 5
    # A single key pair works as the key source too.
    opened2 = open_template(
        sealed, ring.current, session_id="cs_1", tenant_id="acme", device_id="d1"
    )
    np.testing.assert_array_equal(opened2.vector, t.vector)


def test_hybrid_suite_really_uses_ml_kem(rings: dict[SealingSuite, SealingKeyring]) -> None:
    hybrid = seal_template(
        _template(), rings[SealingSuite.MLKEM768X25519_CHACHA20POLY1305].public_key, session_id="s"
    )
    classic = seal_template(
        _template(), rings[SealingSuite.X25519_CHACHA20POLY1305].public_key, session_id="s"
    )
    # ML-KEM-768 ciphertext (1088) + X25519 share (32) vs. a bare X25519 share.
    assert len(hybrid.encapsulated_key) == 1120
    assert len(classic.encapsulated_key) == 32


def test_each_seal_is_fresh(rings: dict[SealingSuite, SealingKeyring]) -> None:
    ring = rings[SealingSuite.X25519_CHACHA20POLY1305]
    a = seal_template(_template(), ring.public_key, session_id="s")
    b = seal_template(_template(), ring.public_key, session_id="s")
    assert a.encapsulated_key != b.encapsulated_key
    assert a.ciphertext != b.ciphertext


def _failures(
    ring: SealingKeyring,
) -> list[tuple[str, SealedTemplate, dict[str, str], SealingKeyring | BackendKeyPair]]:
    good_ctx = {"session_id": "cs_1", "tenant_id": "acme", "device_id": "d1"}
    sealed = seal_template(_template(), ring.public_key, **good_ctx)
    other = SealingKeyring.generate(suite=ring.current.suite)
    cases: list[tuple[str, SealedTemplate, dict[str, str], SealingKeyring | BackendKeyPair]] = [
        ("wrong session", sealed, {**good_ctx, "session_id": "cs_2"}, ring),
        (
            "session relabelled",
            dataclasses.replace(sealed, session_id="cs_2"),
            {**good_ctx, "session_id": "cs_2"},
            ring,
        ),
        ("wrong tenant", sealed, {**good_ctx, "tenant_id": "evil"}, ring),
        ("wrong device", sealed, {**good_ctx, "device_id": "d2"}, ring),
        ("unknown key id", dataclasses.replace(sealed, key_id="nope"), good_ctx, ring),
        ("other backend's key", sealed, good_ctx, other),
        (
            "other key relabelled",
            dataclasses.replace(sealed, key_id=other.current.key_id),
            good_ctx,
            other,
        ),
        (
            "truncated ciphertext",
            dataclasses.replace(sealed, ciphertext=sealed.ciphertext[:-1]),
            good_ctx,
            ring,
        ),
        ("empty ciphertext", dataclasses.replace(sealed, ciphertext=b""), good_ctx, ring),
        (
            "truncated enc",
            dataclasses.replace(sealed, encapsulated_key=sealed.encapsulated_key[:-1]),
            good_ctx,
            ring,
        ),
        (
            "extended ciphertext",
            dataclasses.replace(sealed, ciphertext=sealed.ciphertext + b"\0"),
            good_ctx,
            ring,
        ),
        ("unknown suite", dataclasses.replace(sealed, suite="rot13"), good_ctx, ring),
    ]
    wrong_suite = next(
        s
        for s in SealingSuite
        if s is not ring.current.suite and s.hybrid == ring.current.suite.hybrid
    )
    cases.append(
        ("wrong suite", dataclasses.replace(sealed, suite=wrong_suite.value), good_ctx, ring)
    )
    return cases


@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.value)
def test_every_failure_is_the_same_opaque_error(
    rings: dict[SealingSuite, SealingKeyring], suite: SealingSuite
) -> None:
    ring = rings[suite]
    seen = set()
    for name, sealed, ctx, keys in _failures(ring):
        with pytest.raises(SealedDataError) as exc:
            open_template(sealed, keys, **ctx)
        seen.add(_opaque(exc))
        assert exc.value.__cause__ is None, name
    assert len(seen) == 1, seen
    (kind, message, cause, context) = seen.pop()
    assert kind is SealedDataError
    assert message == "sealed data could not be opened"
    assert cause is None
    assert context is None


@pytest.mark.parametrize(
    "suite",
    [SealingSuite.X25519_CHACHA20POLY1305, SealingSuite.MLKEM768X25519_AES256GCM],
    ids=lambda s: s.value,
)
def test_every_single_bit_flip_fails(
    rings: dict[SealingSuite, SealingKeyring], suite: SealingSuite
) -> None:
    ring = rings[suite]
    t = _template(dim=32)
    sealed = seal_template(t, ring.public_key, session_id="s")
    messages = set()
    for field in ("ciphertext", "encapsulated_key"):
        data = getattr(sealed, field)
        for i in range(len(data)):
            flipped = bytearray(data)
            flipped[i] ^= 0x01 << (i % 8)
            bad = dataclasses.replace(sealed, **{field: bytes(flipped)})
            with pytest.raises(SealedDataError) as exc:
                open_template(bad, ring, session_id="s")
            messages.add(_opaque(exc))
    assert len(messages) == 1


def test_retired_key_opens_during_grace_and_not_after() -> None:
    clock = FakeClock()
    ring = SealingKeyring.generate(clock=clock)
    old = ring.current
    sealed_old = seal_template(_template(), ring.public_key, session_id="s")
    new = ring.rotate(grace_seconds=3600)
    assert ring.current is new
    assert new.key_id != old.key_id
    assert ring.public_key == new.public_key
    assert set(ring.retired()) == {old.key_id}
    clock.now += 3599
    assert open_template(sealed_old, ring, session_id="s").model_id == "dlib-resnet-v1"
    sealed_new = seal_template(_template(), ring.public_key, session_id="s")
    clock.now += 1
    with pytest.raises(SealedDataError):
        open_template(sealed_old, ring, session_id="s")
    assert open_template(sealed_new, ring, session_id="s").dimension == 128
    assert ring.prune() == [old.key_id]
    assert ring.retired() == {}


def test_rotate_refuses_reused_key_id() -> None:
    ring = SealingKeyring.generate()
    with pytest.raises(CryptoError):
        ring.rotate(BackendKeyPair.generate(key_id=ring.current.key_id))


def test_keyring_file_round_trip_and_permissions(tmp_path: os.PathLike[str]) -> None:
    clock = FakeClock()
    path = os.path.join(tmp_path, "keys", "sealing.json")
    ring = SealingKeyring.load_or_create(path, clock=clock)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    sealed = seal_template(_template(), ring.public_key, session_id="s")
    ring.rotate(grace_seconds=60)
    ring.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = SealingKeyring.load(path, clock=clock)
    assert again.current.key_id == ring.current.key_id
    assert open_template(sealed, again, session_id="s").dimension == 128
    clock.now += 61
    with pytest.raises(SealedDataError):
        open_template(sealed, again, session_id="s")
    os.chmod(path, 0o644)
    with pytest.raises(CryptoError, match="chmod 600"):
        SealingKeyring.load(path)


def test_public_key_wire_forms() -> None:
    for suite in ALL_SUITES:
        kp = BackendKeyPair.generate(suite=suite, key_id="k-2026-01")
        pk = kp.public_key
        assert BackendPublicKey.from_dict(pk.to_dict()) == pk
        assert BackendPublicKey.from_base64(pk.to_base64()) == pk
        assert BackendPublicKey.from_bytes(pk.to_bytes()) == pk
        assert pk.to_dict()["suite"] == suite.value
        again = BackendKeyPair.from_private_bytes(kp.private_bytes())
        assert again.public_key == pk
    with pytest.raises(CryptoError):
        BackendPublicKey.from_dict(
            {"key_id": "k", "suite": "x25519-hkdf-sha256-chacha20poly1305", "public_key": "AAAA"}
        )
    with pytest.raises(CryptoError):
        BackendPublicKey.from_dict(
            {"key_id": "k", "suite": "nope", "public_key": pk.to_dict()["public_key"]}
        )


def test_sealed_template_dict_round_trip_and_malformed(
    rings: dict[SealingSuite, SealingKeyring],
) -> None:
    ring = rings[SealingSuite.X25519_AES256GCM]
    sealed = seal_template(_template(), ring.public_key, session_id="s")
    d = sealed_template_to_dict(sealed)
    assert sealed_template_from_dict(d) == sealed
    for bad in (
        {**d, "ciphertext": "!!!"},
        {k: v for k, v in d.items() if k != "suite"},
        {**d, "key_id": 3},
    ):
        with pytest.raises(SealedDataError):
            sealed_template_from_dict(bad)


def test_seal_rejects_bad_templates(rings: dict[SealingSuite, SealingKeyring]) -> None:
    pk = rings[SealingSuite.X25519_CHACHA20POLY1305].public_key
    bad = FaceTemplate(vector=np.array([1.0, np.nan], dtype=np.float32), model_id="m")
    with pytest.raises(TemplateFormatError):
        seal_template(bad, pk, session_id="s")
    with pytest.raises(CryptoError):
        seal_template(_template(), pk, session_id="")


def test_seal_bytes_round_trip_and_binding(rings: dict[SealingSuite, SealingKeyring]) -> None:
    ring = rings[SealingSuite.MLKEM768X25519_CHACHA20POLY1305]
    blob = seal_bytes(
        b"tok_visa_4242", ring.public_key, label="payment-token", context={"tenant": "acme"}
    )
    assert (
        open_bytes(blob, ring, label="payment-token", context={"tenant": "acme"})
        == b"tok_visa_4242"
    )
    for label, ctx, data in (
        ("other-label", {"tenant": "acme"}, blob),
        ("payment-token", {"tenant": "evil"}, blob),
        ("payment-token", {}, blob),
        ("payment-token", {"tenant": "acme"}, blob[:-1]),
        ("payment-token", {"tenant": "acme"}, b""),
    ):
        with pytest.raises(SealedDataError):
            open_bytes(data, ring, label=label, context=ctx)


def test_reprs_hold_no_secrets() -> None:
    for suite in ALL_SUITES:
        kp = BackendKeyPair.generate(suite=suite)
        ring = SealingKeyring(kp)
        secret_hex = kp.private_bytes().hex()
        for obj in (kp, kp.public_key, ring):
            text = repr(obj) + str(obj)
            assert secret_hex[-64:] not in text
            assert kp.public_key.raw.hex() not in text  # even the public key is only fingerprinted
        sealed = seal_template(_template(), kp.public_key, session_id="s")
        assert sealed.ciphertext.hex()[:16] not in repr(sealed)
    with pytest.raises(TypeError):
        pickle.dumps(kp)


def test_wire_forms_match_the_protocol_models(rings: dict[SealingSuite, SealingKeyring]) -> None:
    """facepay.wire (docs/protocol.md) and facepay.crypto must agree byte for byte."""
    from facepay import wire

    ring = rings[SealingSuite.MLKEM768X25519_CHACHA20POLY1305]
    sealed = seal_template(_template(), ring.public_key, session_id="ses_1")
    on_wire = wire.SealedTemplateWire.from_sealed(sealed)
    assert on_wire.model_dump(mode="json") == sealed_template_to_dict(sealed)
    assert sealed_template_from_dict(on_wire.model_dump(mode="json")) == sealed
    info = wire.SealingKeyInfo(
        key_id=ring.current.key_id,
        suite=ring.current.suite.value,
        public_key=wire.b64encode(ring.public_key.raw),
        status="current",
    )
    assert BackendPublicKey.from_dict(info.model_dump(mode="json")) == ring.public_key
