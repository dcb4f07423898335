"""Arbitrary garbage in: only the documented opaque error out, never anything else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facepay.crypto import (
    DeviceKey,
    SealingKeyring,
    SealingSuite,
    decode_template,
    open_bytes,
    open_template,
    sealed_template_from_dict,
    verify_request,
)
from facepay.errors import InvalidSignatureError, SealedDataError, TemplateFormatError
from facepay.types import SealedTemplate

RING = SealingKeyring.generate(suite=SealingSuite.MLKEM768X25519_CHACHA20POLY1305)
DEVICE = DeviceKey.generate()


@settings(max_examples=150, deadline=None)
@given(
    key_id=st.one_of(st.just(RING.current.key_id), st.text(max_size=70)),
    suite=st.one_of(st.sampled_from([s.value for s in SealingSuite]), st.text(max_size=50)),
    enc=st.binary(max_size=1200),
    ct=st.binary(max_size=700),
)
def test_open_template_garbage(key_id: str, suite: str, enc: bytes, ct: bytes) -> None:
    sealed = SealedTemplate(
        key_id=key_id, suite=suite, encapsulated_key=enc, ciphertext=ct, session_id="s"
    )
    with pytest.raises(SealedDataError):
        open_template(sealed, RING, session_id="s")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.one_of(st.text(max_size=60), st.integers())))
def test_sealed_from_dict_garbage(data: dict[str, object]) -> None:
    with pytest.raises(SealedDataError):
        sealed_template_from_dict(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_open_bytes_garbage(blob: bytes) -> None:
    with pytest.raises(SealedDataError):
        open_bytes(blob, RING, label="x")


@settings(max_examples=150, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(
            ["X-FacePay-Device", "X-FacePay-Timestamp", "X-FacePay-Nonce", "X-FacePay-Signature"]
        ),
        st.text(max_size=100),
    ),
    method=st.text(max_size=10),
    target=st.text(max_size=40),
    body=st.binary(max_size=50),
)
def test_verify_request_garbage(
    headers: dict[str, str], method: str, target: str, body: bytes
) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_request(DEVICE.public_key, headers=headers, method=method, target=target, body=body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decode_template_garbage(data: bytes) -> None:
    try:
        t = decode_template(b"FPT\x01" + data)
    except TemplateFormatError:
        return
    assert t.dimension >= 1  # the rare well-formed input decodes to a valid template
