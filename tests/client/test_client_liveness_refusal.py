"""The not_live report is idempotent by its session, so the client retries it like a GET
when an answer is lost (a POST that is not idempotent is sent once)."""

from __future__ import annotations

import httpx
import pytest

from facepay import wire
from facepay.client import FacePayClient
from facepay.config import ClientConfig
from facepay.errors import TransportError
from facepay.testing import SignedAnswers

SUMMARY = wire.LivenessSummary(decision="not_live", reasons=("screen_cue",))
NO_WAIT = ClientConfig(max_attempts=3, backoff_initial_s=0.0, backoff_max_s=0.0)


def _answer_lost(sent: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        raise httpx.ReadTimeout("the answer was lost", request=request)

    return SignedAnswers(httpx.MockTransport(handler))


def test_a_lost_answer_to_a_report_is_retried_within_the_policy_then_raised() -> None:
    sent: list[str] = []
    with (
        FacePayClient(
            "http://backend.test", config=NO_WAIT, transport=_answer_lost(sent)
        ) as client,
        pytest.raises(TransportError) as err,
    ):
        client.report_liveness_refusal("ses_1", SUMMARY)
    assert err.value.code == "no_answer"
    assert sent == ["/v1/sessions/ses_1/liveness-refusal"] * NO_WAIT.max_attempts


def test_the_report_sends_the_summary_and_reads_the_typed_answer() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(
            200,
            json={
                "session_id": "ses_1",
                "status": "recorded",
                "recorded_at": "2026-12-07T19:00:00Z",
            },
        )

    with FacePayClient(
        "http://backend.test", transport=SignedAnswers(httpx.MockTransport(handler))
    ) as client:
        answer = client.report_liveness_refusal("ses_1", SUMMARY)
    assert isinstance(answer, wire.LivenessRefusalResponse)
    assert (answer.session_id, answer.status, answer.replayed) == ("ses_1", "recorded", False)
    sent = wire.LivenessRefusalRequest.model_validate_json(bodies[0])
    assert sent.liveness == SUMMARY


def test_a_post_that_is_not_idempotent_is_not_sent_again_after_a_lost_answer() -> None:
    sent: list[str] = []
    with (
        FacePayClient(
            "http://backend.test", config=NO_WAIT, transport=_answer_lost(sent)
        ) as client,
        pytest.raises(TransportError),
    ):
        client.open_session()  # each call opens a new session: never retried
    assert sent == ["/v1/sessions"]
