"""KeypointsToLandmarksImageProcessor saves under its `<Method><Thing>` name and loads back through
AutoImageProcessor with its crop rule."""

import json

import numpy as np
import torch
from transformers import AutoImageProcessor

import hfvid  # noqa: F401  (registers the Auto classes)
from hfvid.models.keypoints_to_landmarks import KeypointsToLandmarksImageProcessor


def test_save_and_auto_load(tmp_path):
    processor = KeypointsToLandmarksImageProcessor(crop_size=64, crop_rule="celeba")
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "KeypointsToLandmarksImageProcessor"
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is KeypointsToLandmarksImageProcessor and loaded.crop_rule == "celeba"
    image = np.random.default_rng(1).integers(0, 256, (90, 80, 3), dtype=np.uint8)
    boxes = [[10, 12, 60, 70]]
    torch.testing.assert_close(loaded(image, boxes=boxes)["pixel_values"], processor(image, boxes=boxes)["pixel_values"])
