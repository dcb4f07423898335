"""A threshold's name says what it bounds: ``match_distance`` is a distance (at or below:
the same person), ``match_threshold`` a similarity (at or above), never one name for both.
The till's and the backend's defaults are one operating point, written twice."""

from __future__ import annotations

import dataclasses

import pytest

from facepay.config import EmbedderConfig, ServerConfig


def test_one_meaning_one_name() -> None:
    embedder = {f.name for f in dataclasses.fields(EmbedderConfig)}
    server = {f.name for f in dataclasses.fields(ServerConfig)}
    assert "match_distance" in embedder
    assert "match_threshold" not in embedder
    assert "match_threshold" in server
    assert "match_distance" not in server


def test_the_till_and_the_backend_share_one_operating_point() -> None:
    # Cosine distance d and cosine similarity s of unit vectors: s = 1 - d.
    assert ServerConfig().match_threshold == pytest.approx(1.0 - EmbedderConfig().match_distance)


def test_the_environment_names_the_distance() -> None:
    config = EmbedderConfig.from_env({"FACEPAY_EMBEDDER_MATCH_DISTANCE": "0.05"})
    assert config.match_distance == pytest.approx(0.05)
