"""Templates made two ways are never compared (issue 16, "how templates are made").

A template made with mirror averaging (``EmbedderConfig.mirror_average``, the default)
carries the model id ``dlib-resnet-v1+mirror``. A backend accepts it only when that id is in
``ServerConfig.template_models`` (the default lists it and the plain id, for a store whose
tills upgrade one at a time), and keeps it in a gallery of its own: a shopper enrolled
with one recipe is never matched against a payment template made with another, even of
the same face, exactly as for another model. Real templates of one NUAA subject from the
product's embedder; a real backend; a raw till that seals what it is told.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facepay.capture import read_image
from facepay.config import EmbedderConfig, ServerConfig
from facepay.server import Sandbox
from facepay.testing.protocol_till import ProtocolTill, rows
from facepay.vision import DlibResNetEmbedder, FaceMeshDetector

PLAIN, MIRROR = "dlib-resnet-v1", "dlib-resnet-v1+mirror"
BOTH = ServerConfig()  # the default: both recipes, each in its own gallery
PLAIN_ONLY = ServerConfig(template_models=(f"{PLAIN}:128",))
FRAMES = ("s0003_live_01.jpg", "s0003_live_02.jpg")  # one person, one webcam, seconds apart

pytestmark = pytest.mark.eval


@pytest.fixture(scope="module")
def templates(eval_dir: Path) -> dict[str, list[Any]]:
    """``{model id: [vector of each frame]}``, made by the product's embedder."""
    out: dict[str, list[Any]] = {}
    embedders = (
        DlibResNetEmbedder(EmbedderConfig(mirror_average=False)),
        DlibResNetEmbedder(),  # the shipped recipe: mirror averaging
    )
    with FaceMeshDetector(mode="image") as mesh:
        for name in FRAMES:
            image = read_image(eval_dir / "pad" / "live" / name)
            face = mesh.detect(image)[0]
            for e in embedders:
                out.setdefault(e.model_id, []).append(e.embed(image, face).vector)
    assert set(out) == {PLAIN, MIRROR}
    return out


@pytest.fixture
def start(database_url: str, tmp_path: Path) -> Iterator[Any]:
    started: list[tuple[Sandbox, ProtocolTill]] = []

    def _start(config: ServerConfig) -> ProtocolTill:
        sandbox = Sandbox(database_url, key_dir=tmp_path / "keys", config=config).start()
        till = ProtocolTill(sandbox, sandbox.provision_device(tenant_id="acme"))
        started.append((sandbox, till))
        return till

    try:
        yield _start
    finally:
        for sandbox, till in reversed(started):
            till.close()
            sandbox.stop()


def _cos(a: Any, b: Any) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _enroll(till: ProtocolTill, vector: Any, model_id: str) -> Any:
    body = till.enroll_body(vector)
    body["sealed_template"] = till.seal(vector, body["session_id"], model_id=model_id)
    return till.call("POST", "/v1/enrollments", body)


def _pay(till: ProtocolTill, vector: Any, model_id: str) -> Any:
    body = till.pay_body(vector)
    body["sealed_template"] = till.seal(vector, body["session_id"], model_id=model_id)
    return till.authorize(body)


def _last_payment(till: ProtocolTill) -> dict[str, Any]:
    found = rows(
        till.sandbox,
        "SELECT details_json FROM audit_log WHERE event = 'authorization' ORDER BY id DESC",
    )
    return dict(json.loads(found[0][0]))


def test_a_backend_not_told_of_a_recipe_refuses_its_templates(
    start: Any, templates: dict[str, list[Any]]
) -> None:
    till = start(PLAIN_ONLY)
    r = _enroll(till, templates[MIRROR][0], MIRROR)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "template_invalid"
    assert rows(till.sandbox, "SELECT count(*) FROM shoppers") == [(0,)]
    assert _enroll(till, templates[PLAIN][0], PLAIN).status_code == 201
    r = _pay(till, templates[MIRROR][1], MIRROR)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "template_invalid"


def test_the_default_backend_takes_both_recipes_of_dlibs_model() -> None:
    # A store upgrading its tills one at a time: new tills send +mirror, old ones plain.
    assert set(BOTH.template_models) == {f"{PLAIN}:128", f"{MIRROR}:128"}
    assert DlibResNetEmbedder().model_id == MIRROR


@pytest.mark.parametrize(("enrolled", "other"), [(PLAIN, MIRROR), (MIRROR, PLAIN)])
def test_a_payment_made_another_way_is_never_compared_with_the_enrollment(
    start: Any, templates: dict[str, list[Any]], enrolled: str, other: str
) -> None:
    plain, mirror = templates[PLAIN], templates[MIRROR]
    # The same face made two ways is well within the match threshold: if the backend
    # compared them, it would approve.
    assert _cos(plain[1], mirror[1]) > BOTH.match_threshold
    assert _cos(plain[0], mirror[1]) > BOTH.match_threshold
    assert _cos(mirror[0], plain[1]) > BOTH.match_threshold
    till = start(BOTH)
    r = _enroll(till, templates[enrolled][0], enrolled)
    assert r.status_code == 201, r.text
    # Made the same way, the next frame pays.
    approved = _pay(till, templates[enrolled][1], enrolled)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    # Made the other way, it is declined without a comparison: no score, no PIN asked.
    declined = _pay(till, templates[other][1], other)
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"
    details = _last_payment(till)
    assert details["model_id"] == other
    assert details["outcome"] == "no_match"
    assert details["best_score"] is None
