"""The catalogue: every language says everything English says, with the same placeholders."""

from __future__ import annotations

import pytest

from facepay import QualityReason
from kiosk_app.i18n import CATALOGUES, Language, Translator, placeholders


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
