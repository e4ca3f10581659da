"""Tiny REST components for the tests (in-memory tokenizers over the synthetic vocabulary, 32 px frames)."""

import pytest


@pytest.fixture
def tiny_rest():
    from hfvid.data.rest_videos import tiny_synthetic_components

    return tiny_synthetic_components(num_frames=2, image_size=16, hidden_size=32, layers=1)
