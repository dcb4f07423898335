"""What a log collector sees: no raw score, claim, privacy code, PIN or token at INFO.

privacy.md: "The library never configures logging and never logs a frame, a template, a key
or a raw score at INFO"; security.md: "The audit log records ids, scores and reasons, never
templates" (the audit is a table, not the process log). An insider who reads the
retailer's log collector (every record at INFO and above, of every logger, while a
backend on SQLite or PostgreSQL enrolls, approves, declines, steps up and deletes) finds
none of the scores the audit table holds, nor the phone number, the privacy code, the PIN
or the backend's enrollment token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from requests_kit import start

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing.protocol_till import PHONE, ProtocolTill, face, rows, same_face


@pytest.fixture
def backend(database_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start(database_url, tmp_path, ServerConfig(device_rate_burst=100))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _scores(details: object) -> Iterator[float]:
    if isinstance(details, dict):
        for key, value in details.items():
            if "score" in key and isinstance(value, float):
                yield value
            yield from _scores(value)
    elif isinstance(details, list):
        for value in details:
            yield from _scores(value)


def test_the_process_log_holds_no_score_claim_code_or_token(
    backend: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    till = ProtocolTill(backend, backend.provision_device(tenant_id="acme"))
    try:
        enrolled = till.enroll(face(81))
        assert enrolled.status_code == 201
        code = enrolled.json()["privacy_code"]
        approved = till.authorize(till.pay_body(same_face(face(81), 1)))
        assert approved.json()["status"] == "approved"
        declined = till.authorize(till.pay_body(face(82)))
        assert declined.json()["status"] == "declined"
        claim = {"kind": "phone", "value": PHONE}
        deleted = till.http.post("/v1/shoppers/delete", json={"privacy_code": code, "claim": claim})
        assert deleted.status_code == 200, deleted.text
    finally:
        till.close()
    details = [json.loads(d) for (d,) in rows(backend, "SELECT details_json FROM audit_log")]
    scores = sorted(set(_scores(details)))
    assert scores, "the audit holds the scores the log must not"
    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if r.levelno >= logging.INFO
    )
    secrets = [PHONE, PHONE[1:], code, code.replace("-", ""), str(backend.admin_token)]
    for secret in secrets:
        assert secret not in text, "a claim, privacy code or token reached the log"
    for score in scores:
        for spelling in (repr(score), f"{score:.4f}", f"{score:.3f}"):
            if spelling not in ("0.000", "1.000", "0.0000", "1.0000"):
                assert spelling not in text, f"raw score {spelling} reached the log at INFO"
