"""Privacy, proven: enroll and pay end to end, then search everything that was written or
sent for face images and for the plaintext template, and find none.

The run is the real thing: a real clip (../shared/eval/video/single_face.mp4) as the
camera, the real pipeline (mediapipe landmarks, quality gate, liveness, dlib ResNet on
onnxruntime, fusion), HPKE sealing, the real client over real HTTP, the real backend on
a real SQLite file. Two pass-through spies collect what must never escape: samples of the
raw frame bytes the camera produced, and every plaintext template (per frame and fused).
Then the search covers: every HTTP request and response (headers and bodies, through a
recording transport at the client's transport seam), every file under the run's folder
(the SQLite database with its WAL and SHM, the key folder, the temp and cache folders the
run was pointed at), and every log record at DEBUG, formatted with its arguments.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facepay import Basket, BasketLine, Claim, ClaimKind, Till, consent_now, fixed_liveness_plan
from facepay.capture import open_source
from facepay.config import ServerConfig
from facepay.eval._faults import RecordingTransport
from facepay.server import Sandbox
from facepay.types import FaceTemplate, Frame

# Image container signatures: JPEG SOI + a marker that starts real files, PNG, WebP, BMP.
_IMAGE_MAGIC = re.compile(
    rb"\xff\xd8\xff[\xe0\xe1\xdb\xee]|\x89PNG\r\n\x1a\n|RIFF....WEBPVP8|JFIF\x00|Exif\x00\x00",
    re.DOTALL,
)


def _template_needles(vector: np.ndarray) -> list[bytes]:
    """The forms a leaked template would take: raw float32/float64 (both byte orders),
    base64 (standard and url-safe, at each alignment), hex, and JSON / repr floats."""
    needles: list[bytes] = []
    v32 = np.asarray(vector, dtype=np.float32)
    for raw in (
        v32.astype("<f4").tobytes(),
        v32.astype(">f4").tobytes(),
        v32.astype("<f8").tobytes(),
    ):
        needles.append(raw[8:40])
        for offset in range(3):
            window = raw[offset : offset + 48]
            for enc in (base64.b64encode, base64.urlsafe_b64encode):
                text = enc(window)
                needles.append(text[4:36])  # skip the edge characters an alignment changes
        needles.append(raw[8:40].hex().encode())
        needles.append(raw[8:40].hex().upper().encode())
    values = [float(x) for x in v32[2:6]]
    needles.append(json.dumps(values)[1:-1].encode())  # "0.0123, -0.0456, ..."
    needles.append(",".join(repr(x) for x in values).encode())
    needles.append(", ".join(str(np.float32(x)) for x in values).encode())
    needles.append(" ".join(str(np.float32(x)) for x in values).encode())
    needles.append(",".join(f"{x:.6f}" for x in values).encode())
    # numpy's own printing (str(array), a traceback's locals): one value in %.8e is 14+
    # characters, which nothing but that value prints.
    needles.extend(f"{x:.8e}".encode() for x in values)
    return [n for n in needles if len(n) >= 14]


def _frame_needles(image: np.ndarray, rng: np.random.Generator) -> list[bytes]:
    """A few 48-byte runs of raw pixels from textured parts of a frame."""
    flat = np.ascontiguousarray(image).reshape(-1)
    out = []
    for _ in range(50):
        start = int(rng.integers(0, flat.size - 48))
        run = flat[start : start + 48]
        if len(set(run.tolist())) > 12:  # a flat region could match anything
            out.append(run.tobytes())
        if len(out) >= 4:
            break
    return out


class _Spy:
    def __init__(self) -> None:
        self.templates: list[np.ndarray] = []
        self.frame_runs: list[bytes] = []
        self.frames = 0
        self._rng = np.random.default_rng(0)

    def fuse(self, templates: Any) -> FaceTemplate:
        from facepay.vision import fuse_templates

        fused = fuse_templates(list(templates))
        self.templates.extend(np.array(t.vector, copy=True) for t in templates)
        self.templates.append(np.array(fused.vector, copy=True))
        return fused

    def camera(self, clip: Path) -> Iterator[Frame]:
        with open_source(clip) as source:
            for frame in source.frames():
                self.frames += 1
                if self.frames % 5 == 0:
                    self.frame_runs.extend(_frame_needles(frame.image, self._rng))
                yield frame


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.eval
def test_enroll_and_pay_leave_no_image_and_no_template_anywhere(
    eval_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clip = eval_dir / "video" / "single_face.mp4"
    run = tmp_path / "run"
    for sub in ("tmp", "cache", "home"):
        (run / sub).mkdir(parents=True)
    # Everything the run might write goes under `run`: the temp folder, the XDG caches, HOME.
    monkeypatch.setenv("TMPDIR", str(run / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(run / "tmp"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(run / "cache"))
    monkeypatch.setenv("HOME", str(run / "home"))
    caplog.set_level(logging.DEBUG)

    spy = _Spy()
    recorder = RecordingTransport()
    claim = Claim(kind=ClaimKind.PHONE, value="+4915112345678")
    basket = Basket(
        reference="privacy-0001",
        currency="EUR",
        lines=(BasketLine(sku="1", description="Bread", quantity=1, unit_price_minor=349),),
    )
    with Sandbox(run / "backend.db", key_dir=run / "keys", config=ServerConfig()) as sandbox:
        device = sandbox.provision_device()
        with Till.connect(
            sandbox.base_url,
            device_key=device.key,
            device_id=device.device_id,
            liveness=fixed_liveness_plan("blink"),
            transport=recorder,
            fuse=spy.fuse,
        ) as till:
            enrolled = till.enroll(
                spy.camera(clip),
                consent=consent_now("2026-01-en"),
                claim=claim,
                payment_method_token="tok_visa_4242",
            )
            receipt = till.pay(basket, spy.camera(clip), claim=claim)
        # Inspect the files while the backend still runs (WAL not yet checkpointed) ...
        written = _files(run)
    # ... and after it closed them.
    written.update({f"closed:{k}": v for k, v in _files(run).items()})

    # The run really happened: a template was made and a payment decided.
    assert enrolled.shopper_id
    assert receipt.approved, receipt
    assert spy.templates
    assert spy.frame_runs
    assert any(name.endswith("backend.db-wal") for name in written)
    assert len(recorder.exchanges) >= 5

    haystacks: dict[str, bytes] = dict(written)
    for i, ex in enumerate(recorder.exchanges):
        head = json.dumps([list(ex.request_headers), list(ex.response_headers)]).encode()
        haystacks[f"http:{i}:{ex.method} {ex.url}"] = head + ex.request_body + ex.response_body
    logs = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.exc_text or ''}"
        for r in caplog.records
    )
    assert caplog.records, "DEBUG logging captured nothing: the scan would prove nothing"
    haystacks["logs"] = logs.encode("utf-8", "replace")

    template_needles = [n for t in spy.templates for n in _template_needles(t)]
    findings = []
    for name, data in haystacks.items():
        if _IMAGE_MAGIC.search(data):
            findings.append(f"image signature in {name}")
        findings.extend(f"raw frame bytes in {name}" for n in spy.frame_runs if n in data)
        findings.extend(f"plaintext template in {name}" for n in template_needles if n in data)
    assert not findings, sorted(set(findings))[:20]


def test_the_needles_find_a_planted_leak() -> None:
    """The scan can fail: a template written in any of its forms is found."""
    vector = np.random.default_rng(1).standard_normal(128).astype(np.float32)
    needles = _template_needles(vector)
    leaks = [
        b"xx" + vector.tobytes() + b"yy",
        base64.b64encode(b"\x00" + vector.tobytes()),
        base64.urlsafe_b64encode(b"\x00\x00" + vector.tobytes()),
        vector.tobytes().hex().encode(),
        json.dumps({"template": vector.tolist()}).encode(),
        repr(vector.tolist()).encode(),
        str(vector).encode(),
    ]
    for leak in leaks:
        assert any(n in leak for n in needles), leak[:40]
    clean = np.random.default_rng(2).standard_normal(128).astype(np.float32)
    assert not any(n in clean.tobytes() for n in needles)
    jpeg_header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    assert _IMAGE_MAGIC.search(b"junk" + jpeg_header)
    assert _IMAGE_MAGIC.search(b"\x89PNG\r\n\x1a\n....")
