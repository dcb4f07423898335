"""Cancelable biometrics: orthogonality, distance preservation, unlinkability, renewal."""

from __future__ import annotations

import numpy as np
import pytest

from facepay.crypto import TenantTransform
from facepay.errors import CryptoError
from facepay.types import FaceTemplate

DIM = 128


def _unit_rows(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.fixture(scope="module")
def acme() -> TenantTransform:
    return TenantTransform(b"\x01" * 32, tenant_id="acme", dimension=DIM)


def test_matrix_is_orthogonal_and_deterministic(acme: TenantTransform) -> None:
    m = acme._matrix
    np.testing.assert_allclose(m @ m.T, np.eye(DIM), atol=1e-12)
    again = TenantTransform(b"\x01" * 32, tenant_id="acme", dimension=DIM)
    np.testing.assert_array_equal(again._matrix, m)
    # Secret, tenant id and version all feed the derivation.
    for other in (
        TenantTransform(b"\x02" * 32, tenant_id="acme", dimension=DIM),
        TenantTransform(b"\x01" * 32, tenant_id="acme2", dimension=DIM),
        TenantTransform(b"\x01" * 32, tenant_id="acme", dimension=DIM, version=2),
    ):
        assert np.abs(other._matrix - m).max() > 0.1
    # Not a trivial matrix: entries look Gaussian with variance 1/d.
    assert abs(np.var(m) * DIM - 1.0) < 0.05
    assert abs(np.linalg.det(m)) == pytest.approx(1.0)


def test_distances_preserved_within_a_tenant(acme: TenantTransform) -> None:
    x = _unit_rows(200, 1)
    y = _unit_rows(200, 2)
    tx, ty = acme.apply_vectors(x), acme.apply_vectors(y)
    np.testing.assert_allclose(_cos(tx, ty), _cos(x, y), atol=1e-5)
    np.testing.assert_allclose(
        np.linalg.norm(tx - ty, axis=1), np.linalg.norm(x - y, axis=1), atol=1e-5
    )
    np.testing.assert_allclose(acme.invert_vectors(tx), x, atol=1e-5)
    # The stored vector itself is far from the raw template.
    assert np.abs(_cos(tx, x)).max() < 0.5


def test_cross_tenant_unlinkability(acme: TenantTransform) -> None:
    other = TenantTransform.generate(tenant_id="globex", dimension=DIM)
    x = _unit_rows(500, 3)
    same_person_across_tenants = _cos(acme.apply_vectors(x), other.apply_vectors(x))
    # The same face under two tenants' transforms is as (un)related as two random
    # directions in 128-d: cosine ~ N(0, 1/128), sd 0.088. A genuine pair of the default
    # embedder sits far above 0.5 (distance below 0.6 on unit vectors).
    assert abs(float(np.mean(same_person_across_tenants))) < 0.03
    assert float(np.std(same_person_across_tenants)) == pytest.approx(1 / np.sqrt(DIM), rel=0.2)
    assert np.abs(same_person_across_tenants).max() < 0.45


def test_reissue_moves_stored_templates_without_raw_ones(acme: TenantTransform) -> None:
    x = _unit_rows(50, 4)
    stored_old = acme.apply_vectors(x)
    new = acme.rotate()
    assert new.version == acme.version + 1
    assert new.secret != acme.secret
    stored_new = acme.reissue_vectors(stored_old, new)
    np.testing.assert_allclose(stored_new, new.apply_vectors(x), atol=1e-5)
    # After renewal the old stored data no longer matches fresh probes.
    assert np.abs(_cos(stored_old, new.apply_vectors(x))).max() < 0.45
    t = FaceTemplate(vector=x[0], model_id="m", frames_fused=2)
    moved = acme.reissue(acme.apply(t), new)
    assert moved.model_id == "m"
    assert moved.frames_fused == 2
    np.testing.assert_allclose(moved.vector, new.apply(t).vector, atol=1e-5)
    with pytest.raises(CryptoError):
        acme.reissue_vectors(stored_old, TenantTransform.generate(tenant_id="other", dimension=DIM))


def test_misuse_is_refused(acme: TenantTransform) -> None:
    with pytest.raises(CryptoError):
        acme.apply_vectors(np.zeros(64, dtype=np.float32))
    with pytest.raises(CryptoError):
        TenantTransform(b"short", tenant_id="acme", dimension=DIM)
    with pytest.raises(CryptoError):
        TenantTransform(b"\x00" * 32, tenant_id="bad tenant id", dimension=DIM)


def test_repr_hides_the_secret(acme: TenantTransform) -> None:
    assert repr(acme) == "TenantTransform(tenant_id='acme', dimension=128, version=1)"
    assert acme.secret.hex() not in repr(acme) + str(acme)
