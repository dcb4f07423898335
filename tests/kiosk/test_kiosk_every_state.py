"""The gallery stages every state a shopper or attendant can see, and a notice never pushes
a screen off the smallest display.

``kiosk_app.ui.gallery`` is what the layout test checks and what ``scripts/screenshots.py``
shoots: a state missing from it is a state nobody looks at. These tests list the states
from the code that produces them (facepay's quality reasons and liveness challenges, the
model's outcome kinds and notices, the controller's inactivity timeouts), not by hand.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication

from facepay import QualityReason
from facepay.liveness import LivenessChallenge
from kiosk_app.app import apply_theme
from kiosk_app.controller import KioskSettings
from kiosk_app.i18n import CATALOGUES, Language, Translator
from kiosk_app.model import OutcomeKind
from kiosk_app.screens import SCREEN_NAMES
from kiosk_app.ui.gallery import SCREEN_TYPES, TIMED_SCREENS, VARIANTS, stage

KIOSK_APP = Path(__file__).resolve().parents[2] / "kiosk_app"

# Outcome kinds that never reach the result screen as themselves (each has its own screen).
_OWN_SCREEN = {
    OutcomeKind.APPROVED: "result (the staged state)",
    OutcomeKind.ENROLLED: "enroll_done",
    OutcomeKind.STEP_UP: "step_up",
    OutcomeKind.CLAIM_NEEDED: "claim-needed",
    OutcomeKind.CANCELLED: "back where the shopper was",
    OutcomeKind.FACE_NOT_CLEAR: "result-face-not-clear-*",
}


@pytest.fixture
def themed(qapp: QApplication) -> QApplication:
    apply_theme(qapp)
    return qapp


def _notice_keys() -> set[str]:
    """Every ``Notice("key")`` the model emits, and the controller's own notices."""
    keys = set()
    for path in (KIOSK_APP / "model").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Notice"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value
            ):
                keys.add(str(node.args[0].value))
    keys.add("common.timeout_warning")  # KioskController._warn_inactive
    keys.add("enroll.no_card_reader")  # KioskController: no card reader on enroll_card
    return keys - {"receipt.sent"}  # shown as the receipt screen's sent state


def _pattern(text: str) -> re.Pattern[str]:
    """An English message with its ``{placeholders}`` as wildcards."""
    parts = [
        re.escape(literal) + (".+?" if name else "")
        for literal, name, _, _ in string.Formatter().parse(text)
    ]
    return re.compile("^" + "".join(parts) + "$", re.S)


def test_every_quality_and_liveness_prompt_is_staged() -> None:
    capture, liveness = VARIANTS["capture"], VARIANTS["liveness"]
    missing = [r for r in QualityReason if f"prompt-{r.value.replace('_', '-')}" not in capture]
    missing += [
        c for c in LivenessChallenge if f"challenge-{c.value.replace('_', '-')}" not in liveness
    ]
    assert not missing
    assert {"looking", "hold-still", "camera-lost"} <= set(capture)
    assert {"hold-still", "face-lost"} <= set(liveness)


def test_every_way_an_attempt_ends_is_staged() -> None:
    result = VARIANTS["result"]
    missing = [
        k for k in OutcomeKind if k not in _OWN_SCREEN and k.value.replace("_", "-") not in result
    ]
    assert not missing
    assert [k for k in ("face-not-clear", "face-not-clear-covered") if k in result] == [
        "face-not-clear",
        "face-not-clear-covered",
    ]


def test_every_face_not_clear_message_is_staged(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    """One staged enrollment refusal per distinct message (a new reason with its own
    words, such as a hand over the face, is shot without editing the gallery)."""
    from kiosk_app.screens import ResultScreen, not_clear_message_key

    wanted = {not_clear_message_key((r,)) for r in QualityReason}
    en = CATALOGUES[Language.EN]
    shown = set()
    for name, change in VARIANTS["result"].items():
        if not name.startswith("face-not-clear"):
            continue
        screen = stage(ResultScreen(Translator(Language.EN)))
        qtbot.addWidget(screen)
        change(screen)
        shown.add(screen.message.text())
    assert {en[k] for k in wanted} <= shown


def test_every_screen_with_a_timeout_is_staged_with_its_warning() -> None:
    assert set(TIMED_SCREENS) == set(KioskSettings().timeouts)
    assert [n for n in TIMED_SCREENS if "still-there" not in VARIANTS.get(n, {})] == []


def test_every_notice_the_model_emits_is_staged(qtbot, themed: QApplication) -> None:  # type: ignore[no-untyped-def]
    """Each notice text appears on some staged screen (in English: the ids are the same
    in every language, which test_kiosk_i18n.py checks)."""
    shown: list[str] = []
    for name, changes in VARIANTS.items():
        for change in changes.values():
            screen = stage(SCREEN_TYPES[name](Translator(Language.EN)))
            qtbot.addWidget(screen)
            change(screen)
            if screen.notice.isVisibleTo(screen):
                shown.append(screen.notice.text())
    en = CATALOGUES[Language.EN]
    missing = sorted(k for k in _notice_keys() if not any(_pattern(en[k]).match(t) for t in shown))
    assert not missing


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
def test_a_notice_never_pushes_a_screen_off_the_smallest_display(
    qtbot, themed: QApplication, language: Language
) -> None:  # type: ignore[no-untyped-def]
    """A notice ("Still there?", "A member of staff is on the way", a payment the staff must
    check) pushed the camera screen, an approved result (Chinese) and the attendant's screen
    taller than 768 px: Cancel and Continue went off the bottom of a 1024x768 till."""
    t = Translator(language)
    longest = max((t(k, seconds=10) for k in _notice_keys()), key=len)
    direction = Qt.LayoutDirection.RightToLeft if language.rtl else Qt.LayoutDirection.LeftToRight
    too_tall = {}
    for name in SCREEN_NAMES:
        screen = stage(SCREEN_TYPES[name](Translator(language)))
        qtbot.addWidget(screen)
        screen.setLayoutDirection(direction)
        screen.show_notice(longest)
        screen.resize(1024, 768)
        screen.show()
        QApplication.processEvents()
        if screen.height() > 768 or screen.minimumSizeHint().height() > 768:
            too_tall[name] = screen.minimumSizeHint().height()
        screen.close()
    assert not too_tall


@pytest.mark.parametrize("language", list(Language), ids=lambda x: x.value)
@pytest.mark.parametrize("key", ["common.timeout_warning", "attendant.called"])
def test_a_notice_on_the_consent_leaves_all_four_points_on_the_glass(
    qtbot, themed: QApplication, language: Language, key: str
) -> None:  # type: ignore[no-untyped-def]
    """In English "Still there?" or "A member of staff is on the way" scrolled "How to
    delete" out of sight at 1024x768: the notice now stands in the title's place."""
    from PyQt6.QtWidgets import QScrollArea

    screen = stage(SCREEN_TYPES["consent"](Translator(language)))
    qtbot.addWidget(screen)
    screen.resize(1024, 768)
    screen.show()
    screen.show_notice(screen.tr_(key, seconds=10))
    QApplication.processEvents()
    (scroll,) = screen.findChildren(QScrollArea)
    assert scroll.verticalScrollBar().maximum() == 0  # type: ignore[union-attr]
    assert screen.notice.isVisible()
    assert not screen.title.isVisible()
    screen.show_notice("")
    QApplication.processEvents()
    assert screen.title.isVisible()
    assert not screen.notice.isVisible()


def test_every_staged_screen_is_one_the_running_kiosk_shows() -> None:
    """The gallery staged a ``MessageScreen`` ("Nothing was kept") that the kiosk never
    showed: declining consent is a notice on the screen the shopper returns to (the
    ``enroll-declined`` variants of idle and choice). A staged screen is one of the
    model's screens, so the pictures and the layout checks are of what shoppers see."""
    from kiosk_app.model import Screen as ScreenId

    assert set(SCREEN_NAMES) == {s.value for s in ScreenId}
    assert set(SCREEN_TYPES) == set(SCREEN_NAMES)
    assert "enroll-declined" in VARIANTS["idle"]
    assert "enroll-declined" in VARIANTS["choice"]
