"""The privacy page is for shoppers: their language, sentences not JSON, and it finds them
by the phone number as they typed it at the kiosk (the kiosk's own normalisation)."""

from __future__ import annotations

import re
import string

import httpx
import pytest
from server_helpers import PHONE, Till, face, same_face

from facepay import phone_to_e164
from facepay.server import Sandbox
from facepay.server._privacy_page import _TEXT, PRIVACY_LANGUAGES

# How a German shopper types PHONE (+4915112345678) on the kiosk's keypad: national form.
TYPED = "0151 1234 5678"


@pytest.fixture
def shopper(till: Till) -> tuple[Till, str]:
    # The kiosk stored what phone_to_e164 made of the typed number: PHONE.
    assert phone_to_e164(TYPED, "49") == PHONE
    enrolled = till.enroll(face(1))
    assert enrolled.status_code == 201
    assert till.authorize(till.pay_body(same_face(face(1), 1))).json()["status"] == "approved"
    return till, str(enrolled.json()["privacy_code"])


def _post(sandbox: Sandbox, lang: str = "en", **form: str) -> httpx.Response:
    return httpx.post(f"{sandbox.base_url}/privacy", params={"lang": lang}, data=form)


def _text(page: str) -> str:
    """What a reader sees: the answer section without tags."""
    match = re.search(r'<section id="answer"[^>]*>(.*?)</section>', page, flags=re.S)
    assert match, page[:2000]
    return re.sub(r"<[^>]+>", " ", match.group(1))


def test_the_national_form_the_kiosk_accepted_finds_the_shopper(
    sandbox: Sandbox, shopper: tuple[Till, str]
) -> None:
    _, code = shopper
    r = _post(sandbox, code=code, phone=TYPED, cc="49", action="export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    seen = _text(r.text)
    assert "ending in 5678" in seen
    assert "Visa" in seen
    assert "stored, encrypted" in seen
    assert "approved" in seen  # the one payment
    assert "{" not in seen  # sentences, not JSON
    assert PHONE not in r.text
    # The international form and the 00 form are the same shopper.
    for typed in ("+49 151 1234 5678", "0049 151 12345678"):
        assert _post(sandbox, code=code, phone=typed, action="export").status_code == 200


def test_a_national_number_without_a_country_asks_for_it(
    sandbox: Sandbox, shopper: tuple[Till, str]
) -> None:
    _, code = shopper
    r = _post(sandbox, code=code, phone=TYPED, action="export")
    assert r.status_code == 422
    assert "country calling code" in _text(r.text)


def test_mistakes_are_sentences_in_the_shoppers_language(
    sandbox: Sandbox, shopper: tuple[Till, str]
) -> None:
    _, code = shopper
    wrong = _post(sandbox, "zh", code="AAAA-BBBB-CCCC", phone=TYPED, cc="49", action="export")
    assert wrong.status_code == 403
    assert '<html lang="zh"' in wrong.text
    assert _TEXT["zh"]["denied"] in _text(wrong.text)
    not_a_phone = _post(sandbox, "ar", code=code, phone="call me", action="export")
    assert not_a_phone.status_code == 422
    assert 'dir="rtl"' in not_a_phone.text
    assert _TEXT["ar"]["bad_phone"] in _text(not_a_phone.text)
    short_code = _post(sandbox, code="K7", phone=TYPED, cc="49", action="export")
    assert short_code.status_code == 422
    assert "not a privacy code" in _text(short_code.text)


def test_delete_answers_with_the_receipt_and_the_shopper_is_gone(
    sandbox: Sandbox, shopper: tuple[Till, str]
) -> None:
    _, code = shopper
    r = _post(sandbox, code=code, phone=TYPED, cc="49", action="delete")
    assert r.status_code == 200, r.text
    assert re.search(r"receipt of the deletion: del_\w+", _text(r.text))
    again = _post(sandbox, code=code, phone=TYPED, cc="49", action="export")
    assert again.status_code == 403


def test_withdraw_stops_face_payments(sandbox: Sandbox, shopper: tuple[Till, str]) -> None:
    till, code = shopper
    r = _post(sandbox, code=code, phone=TYPED, cc="49", action="withdraw")
    assert r.status_code == 200, r.text
    assert "face payments are stopped" in _text(r.text)
    exported = till.http.post(
        "/v1/shoppers/export",
        json={"privacy_code": code, "claim": {"kind": "phone", "value": PHONE}},
    ).json()
    assert exported["template_stored"] is False


def test_the_page_speaks_the_browsers_language_and_reflects_nothing(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/privacy"
    ar = httpx.get(url, headers={"Accept-Language": "ar-SA,ar;q=0.9,en;q=0.5"})
    assert '<html lang="ar" dir="rtl"' in ar.text
    assert _TEXT["ar"]["title"] in ar.text
    assert '<html lang="zh"' in httpx.get(url, params={"lang": "zh"}).text
    assert '<html lang="en"' in httpx.get(url, params={"lang": "xx"}).text
    probe = "<script>alert(1)</script>"
    r = httpx.get(url, params={"code": probe, "cc": probe, "lang": probe})
    assert probe not in r.text
    assert "alert" not in r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "form-action 'self'" in r.headers["content-security-policy"]
    posted = _post(sandbox, code=probe, phone=probe, action="export")
    assert probe not in posted.text  # escaped where it is shown again


def test_every_language_says_everything_with_the_same_placeholders() -> None:
    fields = {
        key: {f for _, f, _, _ in string.Formatter().parse(text) if f}
        for key, text in _TEXT["en"].items()
    }
    for lang in PRIVACY_LANGUAGES:
        assert set(_TEXT[lang]) == set(fields), lang
        for key, text in _TEXT[lang].items():
            assert {f for _, f, _, _ in string.Formatter().parse(text) if f} == fields[key]


def test_too_many_tries_from_one_place_is_a_sentence_not_a_lockout_of_the_shopper(
    sandbox: Sandbox, shopper: tuple[Till, str]
) -> None:
    """The page answers the typed rate-limit refusal in the shopper's words, with the
    minutes to wait; the same limit as /v1/shoppers/* (per source, in the database)."""
    _, code = shopper
    assert sandbox.backend is not None
    limit = sandbox.backend.config.shopper_rights_per_source
    for _ in range(limit):
        wrong = _post(sandbox, code="AAAA-BBBB-CCCC", phone=TYPED, cc="49", action="export")
        assert wrong.status_code == 403
    # Now even the right pair waits, from this source (another source still gets in:
    # tests/security/test_attack_shoppers_rights.py).
    r = _post(sandbox, "zh", code=code, phone=TYPED, cc="49", action="export")
    assert r.status_code == 429, r.text
    template = _TEXT["zh"]["locked"]
    before, _, after = template.partition("{minutes}")
    seen = " ".join(_text(r.text).split())
    assert re.search(re.escape(before.strip()) + r"\s*\d+\s*" + re.escape(after.strip()), seen), (
        seen
    )
    assert "ending in 5678" not in seen
