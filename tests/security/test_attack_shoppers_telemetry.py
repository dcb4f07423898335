"""Issue 12 (last item): onnxruntime writes a telemetry queue and a device id under the
user's cache folder when it is imported. A biometric till must not: facepay switches the
telemetry off (ORT_DISABLE_TELEMETRY=1) before any of its modules imports onnxruntime.

Checked as a privacy auditor would: a fresh process with an empty home and cache folder
loads a face embedder and a PAD model through facepay, then the folders are listed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_LOAD_MODELS = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, {examples!r})
    import onnx
    from onnx import TensorProto, helper

    import custom_embedder as example
    from facepay.vision import ModelCard, OnnxEmbedder
    from facepay.liveness import PadModel, PadModelCard

    out = Path({work!r})
    card = ModelCard.from_json(example.CARD)
    model = example.build_tiny_arcface(out / "embedder.onnx", card)
    OnnxEmbedder.from_model_card(example.CARD, model)

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "pad", [x], [y])
    pad = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    pad.ir_version = 8
    onnx.save(pad, out / "pad.onnx")
    PadModel.from_model_card(
        PadModelCard(name="tiny", path=out / "pad.onnx", input_size=(8, 8), licence="MIT")
    )
    import os
    print("ORT_DISABLE_TELEMETRY=" + os.environ.get("ORT_DISABLE_TELEMETRY", ""))
    """
)


def test_loading_models_leaves_no_telemetry_or_device_id(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    examples = Path(__file__).resolve().parents[2] / "examples"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORT_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_MODELS.format(examples=str(examples), work=str(work))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ORT_DISABLE_TELEMETRY=1" in done.stdout
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert not [p for p in written if "onnxruntime" in p.lower() or "deviceid" in p], written
    assert not (home / ".cache" / "Microsoft").exists(), written
