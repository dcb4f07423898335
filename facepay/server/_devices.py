"""Devices: the authentication of every signed request, and the state it decides on.

The order of checks for a signed request (docs/protocol.md, "Signed requests"):

1. the four signature headers are there and well formed, else ``missing_signature``;
2. the signature verifies under the device's key, else ``bad_signature`` (an unknown
   device id answers exactly the same: an unsigned caller learns nothing about ids);
3. in ONE database transaction, before anything else is looked at: the device is still
   registered under that key (a revoked one: ``device_revoked``), the nonce is recorded
   (already there: ``nonce_reused``), then the clock (``clock_skew``) and the device's
   rate limit (``rate_limited``) are checked. The nonce is committed whatever those two
   say, so no refused request can be replayed later, and a replay is refused before it
   costs the genuine till a rate-limit token.

Everything that decides is in the database (the revocation, the nonces, the rate bucket),
so N worker processes and replicas act as one. The only per-process state is a cache of
device keys for step 2, kept at most :data:`DEVICE_CACHE_S`; step 3 reads the row again.
"""

from __future__ import annotations

import dataclasses
import threading

from facepay.crypto import DeviceKey, DevicePublicKey, VerifiedRequest, verify_request
from facepay.errors import InvalidSignatureError
from facepay.server._errors import ApiError
from facepay.server._part import BackendContext
from facepay.server._storage import Transaction
from facepay.wire import ErrorCode

__all__ = [
    "DEVICE_CACHE_S",
    "AuthenticatedDevice",
    "DeviceRow",
    "RequestGate",
    "purge_nonces",
    "register_device",
    "revoke_device",
    "take_token",
]

# How long a process may verify signatures with a device key it read earlier. Revocation
# does not wait for it (step 3 reads the row in the database); a re-registered till's new
# key is picked up at once too (a signature that fails under a cached key is tried again
# under the row as it is now).
DEVICE_CACHE_S = 1.0
_CACHE_MAX = 10_000
# Expired nonces are deleted by the sweep, and by each process at most this often.
_NONCE_PURGE_S = 60.0
# A key no request can verify under: checked against when the device id is unknown, so
# an unknown id costs the same work as a known one.
_NOBODY = DeviceKey.generate().public_key


@dataclasses.dataclass(frozen=True, slots=True)
class AuthenticatedDevice:
    device_id: str
    tenant_id: str
    store_id: str
    lane_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceRow:
    """One ``devices`` row, by name."""

    device_id: str
    tenant_id: str
    store_id: str
    lane_id: str
    public_key: bytes
    revoked_at: float | None
    rate_tokens: float | None
    rate_updated_at: float | None

    @property
    def device(self) -> AuthenticatedDevice:
        return AuthenticatedDevice(self.device_id, self.tenant_id, self.store_id, self.lane_id)


_DEVICE_COLUMNS = (
    "device_id, tenant_id, store_id, lane_id, public_key, revoked_at, rate_tokens, rate_updated_at"
)


def read_device(tx: Transaction, device_id: str) -> DeviceRow | None:
    row = tx.one(
        f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ?",  # noqa: S608 (fixed)
        (device_id,),
    )
    if row is None:
        return None
    return DeviceRow(
        device_id=str(row[0]),
        tenant_id=str(row[1]),
        store_id=str(row[2]),
        lane_id=str(row[3]),
        public_key=bytes(row[4]),
        revoked_at=None if row[5] is None else float(row[5]),
        rate_tokens=None if row[6] is None else float(row[6]),
        rate_updated_at=None if row[7] is None else float(row[7]),
    )


def register_device(
    tx: Transaction,
    *,
    device_id: str,
    tenant_id: str,
    store_id: str,
    lane_id: str,
    public_key: bytes,
    now: float,
) -> bool:
    """Register a device, or re-register a revoked one under a new key (a till whose key
    was stolen, replaced). Returns True for a re-registration. A key that was ever revoked
    is refused for good; a device that is not revoked keeps its key (``409``)."""
    if tx.one("SELECT 1 FROM retired_device_keys WHERE public_key = ?", (public_key,)):
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "this key was revoked and cannot be registered again",
            fields=("public_key",),
        )
    existing = read_device(tx, device_id)
    if existing is None:
        tx.execute(
            "INSERT INTO devices (device_id, tenant_id, store_id, lane_id, public_key, "
            "registered_at) VALUES (?, ?, ?, ?, ?, ?)",
            (device_id, tenant_id, store_id, lane_id, public_key, now),
        )
        return False
    if existing.revoked_at is None or existing.tenant_id != tenant_id:
        raise ApiError(
            ErrorCode.DEVICE_ALREADY_REGISTERED,
            "this device id is already registered (revoke it first to give it a new key)",
        )
    tx.execute(
        "UPDATE devices SET store_id = ?, lane_id = ?, public_key = ?, registered_at = ?, "
        "revoked_at = NULL, rate_tokens = NULL, rate_updated_at = NULL "
        "WHERE device_id = ? AND revoked_at IS NOT NULL",
        (store_id, lane_id, public_key, now, device_id),
    )
    return True


def revoke_device(tx: Transaction, device_id: str, now: float) -> DeviceRow | None:
    """Revoke a device's key (idempotent); None if there is no such device. The key goes
    on the retired list, so it can never be registered again, under any id."""
    row = read_device(tx, device_id)
    if row is None:
        return None
    if row.revoked_at is None:
        tx.execute(
            "UPDATE devices SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL",
            (now, device_id),
        )
        row = dataclasses.replace(row, revoked_at=now)
    tx.execute(
        "INSERT INTO retired_device_keys (public_key, device_id, retired_at) VALUES (?, ?, ?) "
        "ON CONFLICT (public_key) DO NOTHING",
        (row.public_key, device_id, now),
    )
    return row


def take_token(
    tokens: float | None, updated_at: float | None, now: float, *, rate: float, burst: int
) -> tuple[float, float | None]:
    """A token bucket, as a plain function: ``(tokens left, None)`` when a request may go,
    ``(tokens, seconds until one is available)`` when not. A bucket never used is full;
    a clock that went back (another replica's) refills nothing."""
    if tokens is None or updated_at is None:
        level = float(burst)
    else:
        level = min(float(burst), tokens + max(0.0, now - updated_at) * rate)
    if level >= 1.0:
        return level - 1.0, None
    return level, (1.0 - level) / rate


def nonce_expiry(now: float, timestamp: float, skew: float) -> float:
    """Until when a nonce must be kept: as long as its timestamp is inside the window the
    clock check accepts, which for a timestamp in the future is beyond ``now + skew``."""
    return max(now, timestamp) + skew


def purge_nonces(tx: Transaction, now: float, max_skew_s: float) -> int:
    """Forget the nonces that expired more than ``max_skew_s`` before ``now``: the expiry
    was set by the clock of the worker that recorded the nonce, and this one's may run
    up to that much ahead of it (a nonce purged early would let its request be played
    again). The gate purges now and then; the retention sweep too."""
    return tx.execute("DELETE FROM nonces WHERE expires_at < ?", (now - max_skew_s,))


class RequestGate:
    """Authenticates signed requests against the ``devices`` and ``nonces`` tables."""

    def __init__(
        self,
        context: BackendContext,
        *,
        max_skew_s: float,
        rate_per_s: float,
        rate_burst: int,
    ) -> None:
        self.context = context
        self.db = context.db
        self.max_skew_s = max_skew_s
        self.rate_per_s = rate_per_s
        self.rate_burst = rate_burst
        self._cache: dict[str, tuple[DeviceRow | None, float]] = {}
        self._lock = threading.Lock()
        self._last_purge = 0.0

    def clock(self) -> float:
        """The backend's time (the context's clock, which every part reads: a fake clock
        set on the backend moves the key cache, the skew window and the buckets too)."""
        return self.context.clock()

    # ---------------------------------------------------------------- the key cache

    def _read(self, device_id: str) -> DeviceRow | None:
        with self.db.transaction(readonly=True) as tx:
            found = read_device(tx, device_id)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[device_id] = (found, self.clock())
        return found

    def _cached(self, device_id: str) -> tuple[DeviceRow | None, bool]:
        """(the row, whether it came from the cache)."""
        with self._lock:
            entry = self._cache.get(device_id)
        # A clock that went back (a test's, or a step of the system clock) makes the
        # entry's age negative: read the row again rather than trust it longer.
        if entry is not None and 0.0 <= self.clock() - entry[1] <= DEVICE_CACHE_S:
            return entry[0], True
        return self._read(device_id), False

    def forget(self, device_id: str) -> None:
        with self._lock:
            self._cache.pop(device_id, None)

    # ---------------------------------------------------------------- the checks

    def _verify(
        self,
        found: DeviceRow | None,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> VerifiedRequest | None:
        key = DevicePublicKey(found.public_key) if found is not None else _NOBODY
        try:
            verified = verify_request(key, headers=headers, method=method, target=target, body=body)
        except InvalidSignatureError:
            return None
        return verified if found is not None else None

    def authenticate(
        self, *, device_id: str, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> AuthenticatedDevice:
        """The device that signed this request (steps 2 and 3 of the module docstring);
        ``device_id`` is the one its well-formed headers name."""
        found, cached = self._cached(device_id)
        verified = self._verify(found, method, target, headers, body)
        if verified is None and cached:
            # Maybe re-registered under a new key since we read it: read it once more.
            found = self._read(device_id)
            verified = self._verify(found, method, target, headers, body)
        if verified is None:
            raise ApiError(ErrorCode.BAD_SIGNATURE, "the request signature does not verify")
        assert found is not None
        return self._admit(found, verified)

    def _admit(self, signer: DeviceRow, verified: VerifiedRequest) -> AuthenticatedDevice:
        """Step 3: one transaction that records the nonce before any other outcome."""
        now = self.clock()
        skew = self.max_skew_s
        refusal: ApiError | None = None
        with self.db.transaction() as tx:
            row = read_device(tx, signer.device_id)
            if row is None or row.public_key != signer.public_key:
                refusal = ApiError(ErrorCode.BAD_SIGNATURE, "the request signature does not verify")
            elif row.revoked_at is not None:
                refusal = ApiError(ErrorCode.DEVICE_REVOKED, "this device was revoked")
            elif not self._record_nonce(tx, row, verified, now):
                refusal = ApiError(ErrorCode.NONCE_REUSED, "this request nonce was already used")
            elif abs(now - verified.timestamp) > skew:
                refusal = ApiError(
                    ErrorCode.CLOCK_SKEW,
                    f"request timestamp is more than {skew:.0f} s from the backend clock",
                )
            else:
                waited = self._take_token(tx, row, now)
                if waited is not None:
                    refusal = ApiError(
                        ErrorCode.RATE_LIMITED, "too many requests", retry_after=waited
                    )
            if now - self._last_purge > _NONCE_PURGE_S:
                self._last_purge = now
                purge_nonces(tx, now, skew)
        if refusal is not None:
            if refusal.code is not ErrorCode.NONCE_REUSED:
                self.forget(signer.device_id)
            raise refusal
        assert row is not None
        return row.device

    def _record_nonce(
        self, tx: Transaction, row: DeviceRow, verified: VerifiedRequest, now: float
    ) -> bool:
        """Record the nonce; False if this device already used it."""
        expires = nonce_expiry(now, float(verified.timestamp), self.max_skew_s)
        added = tx.execute(
            "INSERT INTO nonces (device_id, nonce, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (device_id, nonce) DO NOTHING",
            (row.device_id, verified.nonce, expires),
        )
        return added == 1

    def _take_token(self, tx: Transaction, row: DeviceRow, now: float) -> float | None:
        """Take one token from the device's bucket (its row); seconds to wait if none."""
        for _ in range(20):
            tokens, waited = take_token(
                row.rate_tokens,
                row.rate_updated_at,
                now,
                rate=self.rate_per_s,
                burst=self.rate_burst,
            )
            # Compare-and-set: another process taking a token meanwhile (PostgreSQL, read
            # committed) makes this match nothing, and we read the bucket again.
            changed = tx.execute(
                "UPDATE devices SET rate_tokens = ?, rate_updated_at = ? WHERE device_id = ? "
                "AND COALESCE(rate_tokens, -1.0) = ? AND COALESCE(rate_updated_at, -1.0) = ?",
                (
                    tokens,
                    now if row.rate_updated_at is None else max(now, row.rate_updated_at),
                    row.device_id,
                    -1.0 if row.rate_tokens is None else row.rate_tokens,
                    -1.0 if row.rate_updated_at is None else row.rate_updated_at,
                ),
            )
            if changed == 1:
                return waited
            again = read_device(tx, row.device_id)
            if again is None:  # pragma: no cover - deleted meanwhile
                return None
            row = again
        raise ApiError(ErrorCode.RATE_LIMITED, "too many requests", retry_after=1.0)
