"""examples/custom_embedder.py runs as docs/models.md says, and plugs a model in by its card."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from facepay.config import EmbedderConfig
from facepay.errors import ModelError
from facepay.vision import ModelCard, OnnxEmbedder, recipe_model_id

REPO = Path(__file__).resolve().parent.parent


def _documented_command() -> str:
    text = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [ln.strip() for b in blocks for ln in b.splitlines()]
    commands = [ln for ln in lines if ln.startswith(".venv/bin/python examples/custom_embedder")]
    assert commands, "docs/models.md shows no custom_embedder command"
    return commands[0]


@pytest.mark.eval
def test_example_runs_as_documented(eval_dir: Path) -> None:
    argv = shlex.split(_documented_command())
    argv[0] = sys.executable
    env = {**os.environ, "FACEPAY_EVAL_DIR": str(eval_dir)}
    result = subprocess.run(
        [*argv, "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout)
    # The card's id plus the default recipe's suffix ("+mirror"): a custom model gets the
    # shipped recipe too unless its till says mirror_average=False (docs/models.md).
    default = EmbedderConfig()
    want = recipe_model_id(
        "example-tiny-arcface-v1", mirror_average=default.mirror_average, jitters=default.jitters
    )
    assert want == "example-tiny-arcface-v1+mirror"
    assert out["model_id"] == want
    assert out["dimension"] == 64
    assert out["unit_norm"] is True
    assert out["metric"] == "cosine"
    assert 0.0 <= out["distance_same_person"] <= 2.0
    assert out["fused_frames"] == 2


def test_a_card_that_lies_about_the_model_is_refused(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import custom_embedder
    finally:
        sys.path.pop(0)
    card = ModelCard.from_json(REPO / "examples" / "tiny_arcface.card.json")
    model = custom_embedder.build_tiny_arcface(tmp_path / "m.onnx", card)
    import numpy as np

    chip = np.zeros((112, 112, 3), dtype=np.uint8)
    assert OnnxEmbedder(card, model).embed_chip(chip).dimension == 64
    data = json.loads(card.to_json())
    data["embedding_size"] = 128
    with pytest.raises(ModelError, match="64-d"):
        OnnxEmbedder(ModelCard.from_dict(data), model).embed_chip(chip)
    data["embedding_size"] = 64
    data["output_name"] = "logits"
    with pytest.raises(ModelError, match="no output"):
        OnnxEmbedder(ModelCard.from_dict(data), model)
