"""Every default the security-relevant docs state is the code's default.

The red team reads docs/security.md, protocol.md, crypto.md and privacy.md and attacks the
numbers they give (a threshold, a margin, a lifetime, a lockout count, a rate). A number
that drifted from the code is a promise nobody tests: the 1:N margin was documented 0.05
while ``ServerConfig.match_margin`` was 0.03, and security.md still gave the payment
threshold as cosine 0.875 long after it became 0.96.

Two sweeps, so that a new drift fails here rather than in a review:

- ``PROMISES``: each sentence that states a default, found by the words around the number
  (line wraps and ``**`` ignored), compared with ``ServerConfig()``, ``CheckoutConfig()``
  or the crypto constant it names. Every pattern must be found at least once, so a
  reworded sentence comes back here to be pinned again.
- a generic sweep: any ``field_name`` of ``ServerConfig``/``CheckoutConfig`` written in
  backticks next to "default N" (either order, in one parenthesis) must equal the field.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from facepay.config import CheckoutConfig, ServerConfig
from facepay.crypto import DEFAULT_GRACE_SECONDS, BackendKeyStore, refused_pins
from facepay.crypto import _pin as pin_module
from facepay.server._app import _IDEMPOTENCY_RE
from facepay.server._enrollments import _PRIVACY_ALPHABET
from facepay.wire import ConsentRecord, EnrollmentRequest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PROMISE_DOCS = ("security.md", "protocol.md", "crypto.md", "privacy.md")

SERVER = ServerConfig()
CHECKOUT = CheckoutConfig()

_UNITS = {
    "s": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "minute": 60.0,
    "minutes": 60.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "hourly": 3600.0,
    "day": 86400.0,
    "days": 86400.0,
    "KiB": 1024.0,
}


def text(doc: str) -> str:
    """The doc as one line: wraps, emphasis and thousands separators do not split a number."""
    raw = (DOCS / doc).read_text(encoding="utf-8").replace("**", "")
    raw = re.sub(r"(?<=\d),(?=\d{3}\b)", "", raw)
    return re.sub(r"\s+", " ", raw)


def number(raw: str, unit: str = "") -> float:
    return float(raw) * _UNITS.get(unit, 1.0)


def _bound(model: type[Any], field: str, name: str) -> float:
    """A pydantic field's bound (``max_length``, ``le``) as the wire declares it."""
    for item in model.model_fields[field].metadata:
        if hasattr(item, name):
            return float(getattr(item, name))
    raise AssertionError(f"{model.__name__}.{field} has no {name}")


_IDEM_MIN, _IDEM_MAX = (
    float(n)
    for n in re.search(r"\{(\d+),(\d+)\}", _IDEMPOTENCY_RE.pattern).groups()  # type: ignore[union-attr]
)
MORE_VIEWS = _bound(EnrollmentRequest, "more_views", "max_length")
RETENTION_MAX = _bound(ConsentRecord, "retention_days", "le")
PRIVACY_CODE_BITS = 12 * (len(_PRIVACY_ALPHABET).bit_length() - 1)


# (doc, regex with the number in group 1 and an optional unit in group "unit", the code's
# value, what it is). Each regex must match at least once; every match must equal it.
PROMISES: list[tuple[str, str, float, str]] = [
    # match_threshold
    (
        "security.md",
        r"payment-grade threshold \(cosine ([0-9.]+)[,)]",
        SERVER.match_threshold,
        "ServerConfig.match_threshold",
    ),
    (
        "security.md",
        r"the payment threshold \(([0-9.]+)\)",
        SERVER.match_threshold,
        "ServerConfig.match_threshold",
    ),
    (
        "protocol.md",
        r"stricter than the ([0-9.]+) payment threshold",
        SERVER.match_threshold,
        "ServerConfig.match_threshold",
    ),
    (
        "privacy.md",
        r"the enrollment itself \(at least ([0-9.]+)\)",
        SERVER.match_threshold,
        "ServerConfig.match_threshold",
    ),
    # match_margin
    (
        "protocol.md",
        r"by a margin \(default ([0-9.]+) cosine, `match_margin`\)",
        SERVER.match_margin,
        "ServerConfig.match_margin",
    ),
    # grey zone
    (
        "security.md",
        r"default \[([0-9.]+), [0-9.]+\)",
        SERVER.grey_threshold,
        "ServerConfig.grey_threshold",
    ),
    (
        "security.md",
        r"default \[[0-9.]+, ([0-9.]+)\)",
        SERVER.match_threshold,
        "ServerConfig.match_threshold",
    ),
    (
        "protocol.md",
        r"`grey_threshold` \(default cosine ([0-9.]+)",
        SERVER.grey_threshold,
        "ServerConfig.grey_threshold",
    ),
    (
        "protocol.md",
        r"([0-9]+) wrong PINs in a row \(`ServerConfig.pin_failures`\)",
        SERVER.pin_failures,
        "ServerConfig.pin_failures",
    ),
    (
        "security.md",
        r"the ([0-9]+)(?:rd|nd|th) wrong PIN in a row locks",
        SERVER.pin_failures,
        "ServerConfig.pin_failures",
    ),
    (
        "security.md",
        r"([0-9]+) wrong tries in a row lock it",
        SERVER.pin_failures,
        "ServerConfig.pin_failures",
    ),
    (
        "security.md",
        r"guessed within ([0-9]+) tries",
        SERVER.pin_failures,
        "ServerConfig.pin_failures",
    ),
    # claimless 1:N
    (
        "protocol.md",
        r"FMR from the model's calibration, ([0-9.e-]+) for `dlib-resnet-v1`",
        SERVER.false_match_rate,
        "ServerConfig.false_match_rate",
    ),
    (
        "protocol.md",
        r"default budget ([0-9.e-]+) expected false accepts",
        SERVER.risk_budget,
        "ServerConfig.risk_budget",
    ),
    (
        "security.md",
        r"\(([0-9.e-]+) expected false accepts per payment\)",
        SERVER.risk_budget,
        "ServerConfig.risk_budget",
    ),
    # sessions, skew, body
    (
        "protocol.md",
        r"A session lives ([0-9]+) (?P<unit>s)\b",
        SERVER.session_ttl_s,
        "ServerConfig.session_ttl_s",
    ),
    (
        "security.md",
        r"a session expires after ([0-9]+) (?P<unit>s)\b",
        SERVER.session_ttl_s,
        "ServerConfig.session_ttl_s",
    ),
    (
        "crypto.md",
        r"Sessions are single-use and expire after ([0-9]+) (?P<unit>s)\b",
        SERVER.session_ttl_s,
        "ServerConfig.session_ttl_s",
    ),
    (
        "protocol.md",
        r"the timestamp is within ([0-9]+) (?P<unit>s) of the server clock",
        SERVER.max_clock_skew_s,
        "ServerConfig.max_clock_skew_s",
    ),
    (
        "protocol.md",
        r"`max\(now, timestamp\) \+ ([0-9]+) (?P<unit>s)`",
        SERVER.max_clock_skew_s,
        "ServerConfig.max_clock_skew_s",
    ),
    (
        "security.md",
        r"timestamps more than ([0-9]+) (?P<unit>s) from the backend clock",
        SERVER.max_clock_skew_s,
        "ServerConfig.max_clock_skew_s",
    ),
    (
        "crypto.md",
        r"max_skew_seconds=([0-9]+)",
        SERVER.max_clock_skew_s,
        "ServerConfig.max_clock_skew_s",
    ),
    (
        "crypto.md",
        r"\(> ([0-9]+) (?P<unit>s)\) requests",
        SERVER.max_clock_skew_s,
        "ServerConfig.max_clock_skew_s",
    ),
    (
        "protocol.md",
        r"Bodies are at most ([0-9]+) (?P<unit>KiB)",
        SERVER.max_body_bytes,
        "ServerConfig.max_body_bytes",
    ),
    # retention
    (
        "protocol.md",
        r"`retention_days` \(default ([0-9]+)",
        SERVER.retention_days,
        "ServerConfig.retention_days",
    ),
    (
        "privacy.md",
        r"The default, and the maximum a till can ask for, is ([0-9]+) days",
        SERVER.retention_days,
        "ServerConfig.retention_days",
    ),
    (
        "protocol.md",
        r"retention sweep \(at start and ()(?P<unit>hourly)\)",
        SERVER.sweep_interval_s,
        "ServerConfig.sweep_interval_s",
    ),
    (
        "privacy.md",
        r"retention sweep \(at start and ()(?P<unit>hourly)\)",
        SERVER.sweep_interval_s,
        "ServerConfig.sweep_interval_s",
    ),
    # rate limits and lockouts
    (
        "protocol.md",
        r"at most ([0-9.]+) requests per second",
        SERVER.device_rate_per_s,
        "ServerConfig.device_rate_per_s",
    ),
    (
        "protocol.md",
        r"requests per second \(burst ([0-9]+)\)",
        SERVER.device_rate_burst,
        "ServerConfig.device_rate_burst",
    ),
    (
        "security.md",
        r"rate limited \(([0-9.]+) requests/s",
        SERVER.device_rate_per_s,
        "ServerConfig.device_rate_per_s",
    ),
    (
        "security.md",
        r"requests/s, burst ([0-9]+)\)",
        SERVER.device_rate_burst,
        "ServerConfig.device_rate_burst",
    ),
    (
        "security.md",
        r"locked after ([0-9]+) failed faces",
        SERVER.lockout_failures,
        "ServerConfig.lockout_failures",
    ),
    (
        "protocol.md",
        r"`step_up_failed`\): ([0-9]+) within",
        SERVER.lockout_failures,
        "ServerConfig.lockout_failures",
    ),
    (
        "protocol.md",
        r"`step_up_failed`\): [0-9]+ within ([0-9]+) (?P<unit>minutes)",
        SERVER.lockout_window_s,
        "ServerConfig.lockout_window_s",
    ),
    (
        "protocol.md",
        r"lock the device out of authorizations for ([0-9]+) (?P<unit>minutes)",
        SERVER.device_lockout_s,
        "ServerConfig.device_lockout_s",
    ),
    (
        "protocol.md",
        r"one claim lock that claim for ([0-9]+) (?P<unit>minutes)",
        SERVER.shopper_lockout_s,
        "ServerConfig.shopper_lockout_s",
    ),
    (
        "protocol.md",
        r"([0-9]+) live ones under\s+one claim",
        SERVER.lockout_failures,
        "ServerConfig.lockout_failures",
    ),
    (
        "security.md",
        r"Five failed faces \(no match, not live, failed step-up\) in ([0-9]+) "
        r"(?P<unit>minutes)",
        SERVER.lockout_window_s,
        "ServerConfig.lockout_window_s",
    ),
    (
        "security.md",
        r"lock the device for ([0-9]+) (?P<unit>minutes)",
        SERVER.device_lockout_s,
        "ServerConfig.device_lockout_s",
    ),
    (
        "security.md",
        r"lock that\s+claim for ([0-9]+) \(",
        SERVER.shopper_lockout_s / 60,
        "ServerConfig.shopper_lockout_s in minutes",
    ),
    (
        "security.md",
        r"caps guesses\s+under a claim at ([0-9]+) per",
        SERVER.lockout_failures,
        "ServerConfig.lockout_failures",
    ),
    (
        "security.md",
        r"caps guesses\s+under a claim at [0-9]+ per ([0-9]+) (?P<unit>minutes)",
        SERVER.shopper_lockout_s,
        "ServerConfig.shopper_lockout_s",
    ),
    # shopper rights
    (
        "protocol.md",
        r"limited to ([0-9]+) calls per source address",
        SERVER.shopper_rights_per_source,
        "ServerConfig.shopper_rights_per_source",
    ),
    (
        "protocol.md",
        r"calls per source address \(an IPv6 /64 counts as one\) per ([0-9]+) (?P<unit>minutes)",
        SERVER.shopper_rights_window_s,
        "ServerConfig.shopper_rights_window_s",
    ),
    (
        "privacy.md",
        r"([0-9]+) calls per [0-9]+ minutes \(`ServerConfig.shopper_rights_per_source`",
        SERVER.shopper_rights_per_source,
        "ServerConfig.shopper_rights_per_source",
    ),
    (
        "privacy.md",
        r"[0-9]+ calls per ([0-9]+) (?P<unit>minutes) \(`ServerConfig",
        SERVER.shopper_rights_window_s,
        "ServerConfig.shopper_rights_window_s",
    ),
    (
        "security.md",
        r"limited per source address \(([0-9]+) per",
        SERVER.shopper_rights_per_source,
        "ServerConfig.shopper_rights_per_source",
    ),
    (
        "security.md",
        r"limited per source address \([0-9]+ per ([0-9]+) (?P<unit>minutes)",
        SERVER.shopper_rights_window_s,
        "ServerConfig.shopper_rights_window_s",
    ),
    # template sets that learn
    (
        "protocol.md",
        r"`adaptive_threshold` \(default ([0-9.]+)",
        SERVER.adaptive_threshold,
        "ServerConfig.adaptive_threshold",
    ),
    (
        "security.md",
        r"`adaptive_threshold` \(([0-9.]+)\)",
        SERVER.adaptive_threshold,
        "ServerConfig.adaptive_threshold",
    ),
    (
        "privacy.md",
        r"matched the set clearly \(cosine at least ([0-9.]+)\)",
        SERVER.adaptive_threshold,
        "ServerConfig.adaptive_threshold",
    ),
    (
        "protocol.md",
        r"into one of ([0-9]+) adaptive views by default \(`adaptive_slots`",
        SERVER.adaptive_slots,
        "ServerConfig.adaptive_slots",
    ),
    (
        "privacy.md",
        r"Up to ([0-9]+) adaptive views by default \(`ServerConfig.adaptive_slots`",
        SERVER.adaptive_slots,
        "ServerConfig.adaptive_slots",
    ),
    (
        "protocol.md",
        r"`adaptive_interval_s` \(default ([0-9]+) (?P<unit>hour)\)",
        SERVER.adaptive_interval_s,
        "ServerConfig.adaptive_interval_s",
    ),
    (
        "security.md",
        r"`adaptive_interval_s` \(([0-9]+) (?P<unit>hour)\)",
        SERVER.adaptive_interval_s,
        "ServerConfig.adaptive_interval_s",
    ),
    # the till
    (
        "protocol.md",
        r"`CheckoutConfig.enrollment_views`,\s+default ([0-9]+) views?",
        CHECKOUT.enrollment_views,
        "CheckoutConfig.enrollment_views",
    ),
    (
        "protocol.md",
        r"frames at ([0-9]+)-20 degrees of yaw",
        CHECKOUT.enrollment_view_yaw_deg,
        "CheckoutConfig.enrollment_view_yaw_deg",
    ),
    (
        "privacy.md",
        r"\(([0-9]+)-20 degrees\)",
        CHECKOUT.enrollment_view_yaw_deg,
        "CheckoutConfig.enrollment_view_yaw_deg",
    ),
    # keys
    (
        "protocol.md",
        r"the grace period, default ([0-9]+) (?P<unit>days)",
        DEFAULT_GRACE_SECONDS,
        "facepay.crypto.DEFAULT_GRACE_SECONDS",
    ),
    (
        "security.md",
        r"at most `BackendKeyStore.max_cached_transforms` \(([0-9]+)\)",
        BackendKeyStore.max_cached_transforms,
        "BackendKeyStore.max_cached_transforms",
    ),
    # wire limits
    (
        "protocol.md",
        r"`more_views` \(optional, at most ([0-9]+)\)",
        MORE_VIEWS,
        "EnrollmentRequest.more_views max_length",
    ),
    (
        "privacy.md",
        r"the protocol allows up to ([0-9]+)\)",
        1 + MORE_VIEWS,
        "1 + EnrollmentRequest.more_views max_length",
    ),
    (
        "privacy.md",
        r"holding at most ([0-9]+) templates at the default settings",
        1 + MORE_VIEWS + SERVER.adaptive_slots,
        "1 + more_views + adaptive_slots",
    ),
    (
        "privacy.md",
        r"and the maximum a till can ask for, is ([0-9]+) days",
        RETENTION_MAX,
        "ConsentRecord.retention_days le",
    ),
    (
        "protocol.md",
        r"\(required, ([0-9]+)-[0-9]+ characters",
        _IDEM_MIN,
        "Idempotency-Key minimum length",
    ),
    (
        "protocol.md",
        r"\(required, [0-9]+-([0-9]+) characters",
        _IDEM_MAX,
        "Idempotency-Key maximum length",
    ),
    ("security.md", r"A code has ([0-9]+) bits", PRIVACY_CODE_BITS, "privacy code bits"),
    ("privacy.md", r"a code has ([0-9]+) bits", PRIVACY_CODE_BITS, "privacy code bits"),
    # PINs
    ("security.md", r"minus the ([0-9]+) refused ones", len(refused_pins()), "refused_pins()"),
    (
        "protocol.md",
        r"such as 1212: ([0-9]+) of the 10000\)",
        len(refused_pins()),
        "refused_pins()",
    ),
    ("security.md", r"so ([0-9]+) remain", 10_000 - len(refused_pins()), "10,000 - refused"),
    ("security.md", r"= [0-9]+ / ([0-9]+) =", 10_000 - len(refused_pins()), "10,000 - refused"),
    (
        "crypto.md",
        r"scrypt\(N=2\^([0-9]+), r=[0-9]+",
        pin_module._SCRYPT_N.bit_length() - 1,
        "facepay.crypto._pin scrypt N",
    ),
    (
        "crypto.md",
        r"scrypt\(N=2\^[0-9]+, r=([0-9]+), p=[0-9]+",
        pin_module._SCRYPT_R,
        "facepay.crypto._pin scrypt r",
    ),
    (
        "crypto.md",
        r"scrypt\(N=2\^[0-9]+, r=[0-9]+, p=([0-9]+)",
        pin_module._SCRYPT_P,
        "facepay.crypto._pin scrypt p",
    ),
]


@pytest.mark.parametrize(
    ("doc", "pattern", "expected", "source"),
    PROMISES,
    ids=[f"{doc}:{source}:{i}" for i, (doc, _, _, source) in enumerate(PROMISES)],
)
def test_a_documented_default_is_the_codes_default(
    doc: str, pattern: str, expected: float, source: str
) -> None:
    matches = list(re.finditer(pattern, text(doc)))
    assert matches, f"{doc} no longer says {pattern!r}: pin the reworded sentence here"
    for m in matches:
        unit = m.groupdict().get("unit") or ""
        stated = number(m.group(1) or "1", unit)
        assert stated == pytest.approx(float(expected)), (
            f"{doc} says {m.group(0)!r}, but {source} is {expected}"
        )


def test_the_stated_risk_arithmetic_uses_the_codes_numbers() -> None:
    """security.md's combined false accept rate: P(PIN guessed) = pin_failures / allowed."""
    m = re.search(
        r"P\(guessed within [0-9]+ tries\) = [0-9]+ / [0-9]+ = ([0-9.e-]+)\.", text("security.md")
    )
    assert m is not None
    allowed = 10_000 - len(refused_pins())
    assert float(m.group(1)) == pytest.approx(SERVER.pin_failures / allowed, rel=0.02)


_FIELD_DEFAULT = (
    # `field` (default N unit ...   and   (default N unit, `field`)
    r"`(?:ServerConfig\.|CheckoutConfig\.)?(?P<f1>[a-z_]+)`,? \((?:the grace period, )?default "
    r"(?:cosine )?(?P<n1>[0-9][0-9.e-]*)(?: (?P<u1>[A-Za-z]+))?"
    r"|\(default (?:cosine )?(?P<n2>[0-9][0-9.e-]*)(?: (?P<u2>[A-Za-z]+))?[^()`]{0,20}, "
    r"`(?:ServerConfig\.|CheckoutConfig\.)?(?P<f2>[a-z_]+)`\)"
)


def _config_default(field: str) -> float | None:
    for config in (SERVER, CHECKOUT):
        names = {f.name for f in dataclasses.fields(config)}
        if field in names:
            value = getattr(config, field)
            return float(value) if isinstance(value, int | float) else None
    return None


def test_every_backticked_config_field_next_to_a_default_states_it_right() -> None:
    """A sentence added tomorrow as "`some_field` (default N" is checked without a new line
    in PROMISES. Units: a field ending in _s is in seconds, so "1 hour" is 3600."""
    checked = 0
    for doc in PROMISE_DOCS:
        for m in re.finditer(_FIELD_DEFAULT, text(doc)):
            field = m.group("f1") or m.group("f2")
            expected = _config_default(field)
            if expected is None:
                continue
            unit = (m.group("u1") or m.group("u2") or "") if field.endswith("_s") else ""
            stated = number(m.group("n1") or m.group("n2"), unit)
            assert stated == pytest.approx(expected), (
                f"{doc} says {m.group(0)!r}, but the code's {field} is {expected}"
            )
            checked += 1
    assert checked >= 4  # the sweep is not silently matching nothing


def test_the_sweep_catches_the_drift_it_was_written_for() -> None:
    """The 0.05 margin that was documented while the code said 0.03 fails the sweep."""
    drifted = "the best by a margin (default 0.05 cosine, `match_margin`)."
    m = re.search(_FIELD_DEFAULT, drifted)
    assert m is not None
    assert m.group("f2") == "match_margin"
    assert float(m.group("n2")) != SERVER.match_margin
    good = re.search(PROMISES[4][1], "by a margin (default 0.05 cosine, `match_margin`)")
    assert good is not None
    assert float(good.group(1)) != PROMISES[4][2]
