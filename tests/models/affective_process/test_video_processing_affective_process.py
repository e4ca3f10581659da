"""AffectiveProcessVideoProcessor (shared by Affective Processes and Contrastive AU): saves under its
`<Method><Thing>` name and loads back through AutoVideoProcessor."""

import json

import numpy as np
import torch
from transformers import AutoVideoProcessor

import hfvid  # noqa: F401  (registers the Auto classes)
from hfvid.models.affective_process import AffectiveProcessVideoProcessor


def test_save_and_auto_load(tmp_path):
    processor = AffectiveProcessVideoProcessor(size={"height": 32, "width": 32})
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert saved["video_processor_type"] == "AffectiveProcessVideoProcessor"
    loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is AffectiveProcessVideoProcessor
    video = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    torch.testing.assert_close(loaded(video)["pixel_values"], processor(video)["pixel_values"])
