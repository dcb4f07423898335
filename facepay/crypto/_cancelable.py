"""Cancelable biometrics: a secret random orthogonal transform per tenant (retailer).

The backend stores and matches ``R_t @ x`` instead of a template ``x``, with ``R_t`` a
random orthogonal matrix derived from tenant ``t``'s secret. An orthogonal map keeps
every inner product and every Euclidean distance, so matching inside a tenant is exactly
as accurate as before; but for two tenants ``R_a @ x`` and ``R_b @ x`` are as unrelated as
two random directions, so a template database stolen from one retailer cannot be linked
to, or replayed against, another's (ISO/IEC 24745 unlinkability). A leaked tenant
database is *renewed* by issuing a new secret and re-transforming every stored template
with ``R_new @ R_old.T`` (ISO/IEC 24745 renewability / revocability).

Derivation (deterministic, so every backend replica and every restart agrees)::

    seed  = HKDF-SHA256(ikm=secret, salt="facepay/cancelable-transform/v1",
                        info=context(tenant_id, dimension, version), 32 bytes)
    u     = ChaCha20 keystream under seed, read as uint64 -> uniform (0, 1)
    G     = d x d standard normal matrix from u (Box-Muller)
    Q, R  = QR(G);  R_t = Q * sign(diag(R))     (Haar-distributed, Mezzadri 2007)

What it does not do: it is a secret linear map, so whoever holds a tenant's secret (or
~d pairs of a template and its transform) can invert it. It separates tenants; it does
not replace encryption at rest, and the secret must live apart from the templates
(wrapped by the master key). See docs/crypto.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from facepay.crypto import _hazmat
from facepay.crypto._common import check_id, encode_context
from facepay.errors import CryptoError
from facepay.types import FaceTemplate

__all__ = ["TenantTransform"]

_SALT = b"facepay/cancelable-transform/v1"
SECRET_LEN = 32


def _haar_orthogonal(seed: bytes, dim: int) -> npt.NDArray[np.float64]:
    n = dim * dim
    pairs = (n + 1) // 2
    stream = _hazmat.chacha20_keystream(seed, 16 * pairs)
    words = np.frombuffer(stream, dtype="<u8").reshape(2, pairs)
    # 53 random bits -> (0, 1): the +0.5 keeps log() away from 0.
    u = ((words >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / (1 << 53))
    radius = np.sqrt(-2.0 * np.log(u[0]))
    angle = 2.0 * np.pi * u[1]
    normals = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:n]
    q, r = np.linalg.qr(normals.reshape(dim, dim))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    matrix: npt.NDArray[np.float64] = q * signs  # flips columns: makes Q unique, Haar
    return matrix


class TenantTransform:
    """Tenant ``tenant_id``'s secret orthogonal transform for ``dimension``-d templates.

    ``version`` counts re-issues: a new secret comes with a new version, and the backend
    stores the version next to each transformed template. Secret: ``repr`` shows the
    tenant, dimension and version only.
    """

    __slots__ = ("_matrix", "_secret", "dimension", "tenant_id", "version")

    def __init__(self, secret: bytes, *, tenant_id: str, dimension: int, version: int = 1) -> None:
        if len(secret) < 16:
            raise CryptoError("a tenant transform secret is at least 16 random bytes")
        if not 2 <= int(dimension) <= 4096:
            raise CryptoError("dimension must be 2..4096")
        if int(version) < 1:
            raise CryptoError("version starts at 1")
        self._secret = bytes(secret)
        self.tenant_id = check_id(tenant_id, "tenant_id")
        self.dimension = int(dimension)
        self.version = int(version)
        info = encode_context(
            "facepay/cancelable-transform",
            [
                ("tenant_id", self.tenant_id),
                ("dimension", str(self.dimension)),
                ("version", str(self.version)),
            ],
        )
        seed = _hazmat.hkdf_sha256(self._secret, info=info, salt=_SALT)
        self._matrix = _haar_orthogonal(seed, self.dimension)
        self._matrix.setflags(write=False)

    @staticmethod
    def generate_secret() -> bytes:
        """32 random bytes: store them encrypted (``TemplateVault.encrypt_bytes``)."""
        return _hazmat.random_bytes(SECRET_LEN)

    @classmethod
    def generate(cls, *, tenant_id: str, dimension: int, version: int = 1) -> TenantTransform:
        return cls(cls.generate_secret(), tenant_id=tenant_id, dimension=dimension, version=version)

    @property
    def secret(self) -> bytes:
        """The secret to persist (encrypted!). Never log it."""
        return self._secret

    def __repr__(self) -> str:
        return (
            f"TenantTransform(tenant_id={self.tenant_id!r}, dimension={self.dimension}, "
            f"version={self.version})"
        )

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("TenantTransform cannot be pickled; persist .secret encrypted")

    def _check(self, vectors: npt.NDArray[np.floating[Any]], what: str) -> npt.NDArray[np.float64]:
        arr = np.asarray(vectors, dtype=np.float64)
        if arr.shape[-1] != self.dimension or arr.ndim not in (1, 2):
            raise CryptoError(
                f"{what} has shape {arr.shape}; this transform is for {self.dimension}-d templates"
            )
        return arr

    def apply_vectors(self, vectors: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
        """Transform one vector ``(d,)`` or a batch ``(n, d)``; returns float32."""
        arr = self._check(vectors, "vectors")
        out: npt.NDArray[np.float32] = _product(self._matrix, arr).astype(np.float32)
        return out

    def apply(self, template: FaceTemplate) -> FaceTemplate:
        """The template as this tenant stores and matches it."""
        return FaceTemplate(
            vector=self.apply_vectors(template.vector),
            model_id=template.model_id,
            frames_fused=template.frames_fused,
        )

    def invert_vectors(self, vectors: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
        """Undo :meth:`apply_vectors` (for an export of what is stored, or a migration)."""
        arr = self._check(vectors, "vectors")
        out: npt.NDArray[np.float32] = _product(self._matrix.T, arr).astype(np.float32)
        return out

    def reissue_vectors(
        self, vectors: npt.NDArray[np.floating[Any]], new: TenantTransform
    ) -> npt.NDArray[np.float32]:
        """Move vectors stored under this transform to ``new``: ``R_new @ R_old.T @ y``.

        The backend never needs the raw templates for a re-issue.
        """
        if new.dimension != self.dimension or new.tenant_id != self.tenant_id:
            raise CryptoError("re-issue needs a transform for the same tenant and dimension")
        arr = self._check(vectors, "vectors")
        step = new._matrix @ self._matrix.T
        out: npt.NDArray[np.float32] = (arr @ step.T).astype(np.float32)
        return out

    def reissue(self, template: FaceTemplate, new: TenantTransform) -> FaceTemplate:
        return FaceTemplate(
            vector=self.reissue_vectors(template.vector, new),
            model_id=template.model_id,
            frames_fused=template.frames_fused,
        )

    def rotate(self) -> TenantTransform:
        """A re-issued transform: a fresh secret and the next version."""
        return TenantTransform(
            self.generate_secret(),
            tenant_id=self.tenant_id,
            dimension=self.dimension,
            version=self.version + 1,
        )


def _product(
    matrix: npt.NDArray[np.floating[Any]], arr: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.floating[Any]]:
    """``matrix @ v`` for each row ``v`` of ``arr`` (or for ``arr`` itself when 1-D).

    One vector is the backend's hot path (every enrollment and authorization): einsum keeps
    that single 128x128 product off BLAS, whose woken worker thread cost 4.5 ms of a 7 ms
    authorization on a loaded 2-core machine (einsum: ~0.05 ms). Batches use BLAS.
    """
    if arr.ndim == 1:
        single: npt.NDArray[np.floating[Any]] = np.einsum("ij,j->i", matrix, arr)
        return single
    batch: npt.NDArray[np.floating[Any]] = arr @ matrix.T
    return batch
