"""Where converted models live: the user's cache folder, keyed by the source file's sha256.

The dlib-to-ONNX conversion takes about a second; doing it once per machine (not once per
process) keeps a till's cold start short. The cache key is the sha256 of the source
``.dat`` plus the converter's own version, so a changed weights file or a fixed converter
never reuses a stale graph. Files are written to a temporary name and renamed into place,
so two processes converting at once cannot leave a half-written model behind.

The folder is ``platformdirs.user_cache_dir("facepay")/models`` unless the environment
variable ``FACEPAY_MODEL_CACHE`` names another one (a read-only image, a test's tmp dir).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from facepay.errors import ModelError

__all__ = ["CONVERTER_VERSION", "cache_dir", "dlib_resnet_onnx_path", "sha256_file"]

logger = logging.getLogger(__name__)

# Bump when _dlib_format/_dlib_onnx change the graph they produce.
CONVERTER_VERSION = "1"


def cache_dir() -> Path:
    """The model cache folder (created on demand)."""
    override = os.environ.get("FACEPAY_MODEL_CACHE")
    if override:
        path = Path(override)
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("facepay")) / "models"
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_dlib_model_path() -> Path:
    """``dlib_face_recognition_resnet_model_v1.dat`` from the face_recognition_models package."""
    try:
        import face_recognition_models
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError("the package face_recognition_models is not installed") from exc
    return Path(face_recognition_models.face_recognition_model_location())


def dlib_resnet_onnx_path(source: Path | None = None) -> Path:
    """The ONNX conversion of dlib's ResNet ``source``, converting it on first use."""
    source = Path(source) if source is not None else default_dlib_model_path()
    if not source.is_file():
        raise ModelError(f"dlib model not found: {source}")
    digest = sha256_file(source)
    folder = cache_dir()
    target = folder / f"dlib_resnet_v1-{digest[:32]}-c{CONVERTER_VERSION}.onnx"
    if target.is_file():
        return target
    # The converter (and the onnx package it needs) is imported only on a cache miss:
    # a till's every start takes the branch above.
    from facepay.vision._dlib_format import read_dlib_network
    from facepay.vision._dlib_onnx import build_onnx_model

    logger.info("converting %s to ONNX (once per machine)", source.name)
    net = read_dlib_network(source)
    model = build_onnx_model(net)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".onnx", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(model.SerializeToString())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ModelError(f"cannot write the model cache in {folder}: {exc}") from exc
    return target
