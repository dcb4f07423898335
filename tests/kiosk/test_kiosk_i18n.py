"""The catalogue: every language says everything English says, with the same placeholders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from facepay import QualityReason
from kiosk_app.i18n import CATALOGUES, Language, Translator, placeholders
from kiosk_app.model import SETTING_BOUNDS, ChannelKind, RequestKind

KIOSK_APP = Path(__file__).resolve().parents[2] / "kiosk_app"
_KEY = re.compile(r"^[a-z_]+\.[a-z0-9_.]*[a-z0-9_]$")


def _keys_named_in_the_code() -> dict[str, str]:
    """Every string in kiosk_app that looks like a catalogue id (``area.name``, its area
    one the catalogue has) -> where it is."""
    areas = {key.split(".")[0] for key in CATALOGUES[Language.EN]}
    found: dict[str, str] = {}
    for path in KIOSK_APP.rglob("*.py"):
        if path.name == "i18n.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _KEY.match(node.value)
                and node.value.split(".")[0] in areas
            ):
                found.setdefault(node.value, f"{path.name}:{node.lineno}")
    return found


def test_every_id_the_code_names_is_in_the_catalogue() -> None:
    """A missing id shows the shopper (or staff) the id itself: the staff sign-in screen
    read "attendant.staff_id". Every language has the English ids (tested above)."""
    named = _keys_named_in_the_code()
    assert "enroll.pin_title" in named  # the scan sees the code's ids
    assert {k: where for k, where in named.items() if k not in CATALOGUES[Language.EN]} == {}


def test_every_id_built_from_a_value_is_in_the_catalogue() -> None:
    english = CATALOGUES[Language.EN]
    built = [f"attendant.request.{kind.value}" for kind in RequestKind]
    built += [f"attendant.setting.{name}" for name in SETTING_BOUNDS]
    built += [f"privacy.{part}.{c.value}" for c in ChannelKind for part in ("channel", "sent")]
    # A printed receipt needs no address: only e-mail and SMS ask for one.
    built += [f"privacy.address.{c.value}" for c in (ChannelKind.EMAIL, ChannelKind.SMS)]
    built += [f"attendant.action.{a}" for a in ("done", "approve_age", "unlock", "settle")]
    assert [key for key in built if key not in english] == []


@pytest.mark.parametrize("language", [Language.ZH, Language.AR])
def test_every_language_has_exactly_the_english_ids(language: Language) -> None:
    english = CATALOGUES[Language.EN]
    other = CATALOGUES[language]
    assert sorted(set(english) - set(other)) == []
    assert sorted(set(other) - set(english)) == []


@pytest.mark.parametrize("language", [Language.ZH, Language.AR])
def test_placeholders_match_english(language: Language) -> None:
    english = CATALOGUES[Language.EN]
    for key, text in CATALOGUES[language].items():
        assert placeholders(text) == placeholders(english[key]), key


@pytest.mark.parametrize("language", list(Language))
def test_translations_are_not_english_left_in_place(language: Language) -> None:
    if language is Language.EN:
        return
    same = [k for k, v in CATALOGUES[language].items() if v == CATALOGUES[Language.EN][k]]
    assert same == []


def test_every_quality_reason_has_a_prompt_in_every_language() -> None:
    for language in Language:
        for reason in QualityReason:
            assert f"quality.{reason.value}" in CATALOGUES[language], (language, reason)


def test_translator_formats_and_falls_back() -> None:
    tr = Translator(Language.ZH)
    assert tr("basket.total", amount="EUR 1.00") == "合计 EUR 1.00"
    assert tr("no.such.id") == "no.such.id"
    tr.language = Language.AR
    assert Language.AR.rtl
    assert not Language.EN.rtl
    assert tr("common.cancel") == "إلغاء"
