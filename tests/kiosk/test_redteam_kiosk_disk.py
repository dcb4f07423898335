"""Red team at the kiosk: someone with the kiosk's disk and its logs.

A whole day at one lane, logged at DEBUG by every logger (as ``facepay-kiosk -vv`` does):
a shopper enrolls (phone number, card, PIN typed twice, the camera) and takes the privacy
code by e-mail; pays by face with the phone number and takes the receipt by
SMS; a stranger tries a staff sign-in, a member of staff signs in and reprints. The
kiosk's home, its XDG config, cache, data and state folders, its temporary folder and
the staff audit file are folders of this test: afterwards every byte written there and
every log line is read for the shopper's phone number, PIN, privacy code, e-mail address,
face template and any image. The kiosk is the real one over a real till and sandbox
(``kiosk_redteam_kit.py``); the camera is synthetic, so the face is a known vector.
"""

from __future__ import annotations

import logging
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from kiosk_redteam_kit import (
    EMAIL,
    PERSON,
    PHONE,
    PIN,
    STAFF_ID,
    STAFF_PIN,
    approvals,
    close_lane,
    enroll,
    names,
    open_lane,
    pay_by_face,
    push_sale,
    type_digits,
)
from PyQt6.QtWidgets import QApplication

import facepay.testing as kit
from kiosk_app.model import ChannelKind, StaffAudit

E164 = "+49" + PHONE[1:]
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"BM", b"GIF8", b"\x93NUMPY", b"RIFF")


@pytest.fixture
def sandbox() -> Iterator[kit.Sandbox]:
    with kit.Sandbox() as sb:
        yield sb


def template_fragments() -> list[bytes]:
    """The synthetic face as it could be written: its float32 bytes, a run of its values
    as text (repr, a JSON list, a log line) and as bytes."""
    vector = np.asarray(PERSON, dtype=np.float32)
    unit = vector / np.linalg.norm(vector)
    out = [vector.tobytes()[:32], unit.tobytes()[:32]]
    for values in (vector, unit):
        for fmt in ("{:.4f}", "{:.6f}", "{!r}"):
            out.append(", ".join(fmt.format(float(v)) for v in values[:3]).encode())
    return out


def test_a_day_at_the_lane_leaves_no_phone_pin_code_address_template_or_image_on_disk_or_in_the_log(  # type: ignore[no-untyped-def]
    qtbot,
    qapp: QApplication,
    sandbox: kit.Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disk = tmp_path / "kiosk"
    for folder in ("home", "config", "cache", "data", "state", "tmp", "receipts", "cwd"):
        (disk / folder).mkdir(parents=True)
    monkeypatch.chdir(disk / "cwd")  # a file written to a relative path lands here
    monkeypatch.setenv("HOME", str(disk / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(disk / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(disk / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(disk / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(disk / "state"))
    monkeypatch.setenv("TMPDIR", str(disk / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(disk / "tmp"))
    log_file = disk / "home" / "kiosk.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    lane = open_lane(
        qapp, sandbox, disk / "receipts", audit=StaffAudit(disk / "state" / "audit.jsonl")
    )
    try:
        c = lane.c
        enroll(qtbot, c)
        code = c.machine.outcome.privacy_code if c.machine.outcome else ""
        assert len(code) >= 6
        c.enroll_done.channel_buttons[ChannelKind.EMAIL].click()
        for ch in EMAIL:
            c.enroll_done.email_keyboard.press(ch)
        c.enroll_done.email_keyboard.submit_button.click()
        c.enroll_done.done_button.click()
        assert [to for to, _s, _b in lane.gateways.mails] == [EMAIL]

        push_sale(qtbot, c, "SALE-DISK-1")
        assert pay_by_face(qtbot, c) == "result"
        assert approvals(sandbox) == 1
        c.result.done_button.click()
        c.privacy.channel_buttons[ChannelKind.SMS].click()
        for d in PHONE:
            c.privacy.phone_keypad.press(d)
        c.privacy.send_button.click()
        assert [to for to, _t in lane.gateways.texts] != []
        c.privacy.done_button.click()

        c.idle.attendant_button.click()
        c.attendant_pin.staff_id_edit.setText(STAFF_ID)
        type_digits(c.attendant_pin, STAFF_PIN)
        c.attendant_pin.keypad.submit_button.click()
        assert c.current == "attendant"
        c.attendant.reprint_button.click()
        c.attendant.exit_button.click()
        c.idle.attendant_button.click()
        c.attendant_pin.staff_id_edit.setText(STAFF_ID)
        type_digits(c.attendant_pin, "000000")  # a stranger's guess
        c.attendant_pin.keypad.submit_button.click()
        assert c.current == "attendant_pin"
    finally:
        close_lane(qapp, lane)
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)

    log = log_file.read_text(encoding="utf-8")
    assert "screen enroll_pin" in log  # the DEBUG log did run
    for secret in (PHONE, E164, PIN, code, EMAIL, STAFF_PIN, "000000"):
        assert not names(log, secret), secret

    printed = sorted((disk / "receipts").iterdir())
    assert len(printed) == 1  # the staff's reprint
    written = [p for p in disk.rglob("*") if p.is_file()]
    assert (disk / "state" / "audit.jsonl") in written
    fragments = template_fragments()
    for path in written:
        data = path.read_bytes()
        text = data.decode("utf-8", errors="replace")
        for secret in (PHONE, E164, PIN, EMAIL, STAFF_PIN):
            assert not names(text, secret), (path.name, secret)
        for fragment in fragments:
            assert fragment not in data, path.name
        assert not data.startswith(IMAGE_MAGIC), path.name
        if path in printed:
            # The demo's printer: the slip is the shopper's, so the code is on it; the
            # file is the printer's paper, readable by the kiosk's user only.
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        else:
            assert not names(text, code), path.name
    assert "4242" in printed[0].read_text(encoding="utf-8")  # the sale, reprinted
    assert code not in printed[0].read_text(encoding="utf-8")  # never the code
    assert code in lane.gateways.mails[0][2]  # the code went where the shopper chose


def test_the_kiosk_process_writes_no_core_dump_of_its_memory() -> None:
    """A crash (an abort in a Qt slot, a native library's segfault) must not write the
    process's memory, with the last shopper's digits and frames in it, to the disk."""
    import subprocess
    import sys

    probe = (
        "import ctypes, ctypes.util, resource\n"
        "from kiosk_app.process import no_core_dumps\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
        "before = libc.prctl(3, 0, 0, 0, 0)\n"
        "ok = no_core_dumps()\n"
        "print(before, libc.prctl(3, 0, 0, 0, 0), resource.getrlimit(resource.RLIMIT_CORE), ok)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split(maxsplit=2)
    assert out[0] == "1"  # (control) a Python process is dumpable by default
    assert out[1] == "0"
    assert out[2].strip() == "(0, 0) True"


def test_the_kiosk_command_turns_core_dumps_off_before_anything_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import kiosk_app.__main__ as command

    calls: list[str] = []
    monkeypatch.setattr(command, "no_core_dumps", lambda: calls.append("off") or True)
    assert command.main([]) == 2  # no --demo: it stops at once, after turning them off
    assert calls == ["off"]
