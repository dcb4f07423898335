"""Shared fixtures. Fakes only at real seams (frame source, HTTP transport, clock)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    """``../shared/eval``: real third-party photos and clips, read in place, never copied."""
    path = Path(os.environ.get("FACEPAY_EVAL_DIR", REPO.parent / "shared" / "eval"))
    if not (path / "README.md").exists():
        pytest.fail(f"evaluation data not found at {path} (set FACEPAY_EVAL_DIR)")
    return path


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep a developer's own settings and caches out of tests, but share one model cache
    per test session so the dlib-to-ONNX conversion runs once."""
    for key in list(os.environ):
        if key.startswith("FACEPAY_") and key not in (
            "FACEPAY_EVAL_DIR",
            "FACEPAY_TEST_POSTGRES_DSN",
            "FACEPAY_MODEL_CACHE",
        ):
            monkeypatch.delenv(key)
