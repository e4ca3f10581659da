"""`hfvid-unsupervised-landmarks` pipeline on a tiny saved Keypoints-to-Landmarks stage-2 model."""

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

from hfvid import (
    KeypointsToLandmarksConfig,
    KeypointsToLandmarksForLandmarkDetection,
    KeypointsToLandmarksImageProcessor,
    UnsupervisedLandmarkDetectionPipeline,
)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("k2l")
    torch.manual_seed(0)
    config = KeypointsToLandmarksConfig(num_landmarks=4, num_clusters=8, hidden_size=16, stem_channels=8,
                                        hourglass_depth=2, image_size=64, heatmap_size=16, descriptor_dim=8,
                                        num_groups=4, flip_permutation=[1, 0, 2, 3])
    KeypointsToLandmarksForLandmarkDetection(config).save_pretrained(path)
    KeypointsToLandmarksImageProcessor(crop_size=64).save_pretrained(path)
    return path


def test_pipeline_outputs_in_image_pixels(saved_model):
    pipe = pipeline("hfvid-unsupervised-landmarks", model=str(saved_model))
    assert isinstance(pipe, UnsupervisedLandmarkDetectionPipeline)
    image = np.random.default_rng(0).integers(0, 255, size=(80, 100, 3), dtype=np.uint8)
    objects = pipe(image, boxes=[[10, 10, 60, 70], [50, 20, 95, 75]])
    assert len(objects) == 2 and json.dumps(objects)
    for obj, box in zip(objects, [[10, 10, 60, 70], [50, 20, 95, 75]]):
        assert obj["box"] == box and len(obj["landmarks"]) == 4 and len(obj["scores"]) == 4
        points = np.array(obj["landmarks"])
        side = max(box[2] - box[0], box[3] - box[1]) + 1
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        assert (np.abs(points - centre) <= side / 2 + 1).all()  # inside the square crop around the box

    model = KeypointsToLandmarksForLandmarkDetection.from_pretrained(saved_model).eval()
    processor = KeypointsToLandmarksImageProcessor.from_pretrained(saved_model)
    inputs = processor(image, boxes=[[10, 10, 60, 70]], return_tensors="pt")
    with torch.no_grad():
        outputs = model(pixel_values=inputs["pixel_values"], flip_test=True)
    expected = processor.post_process_landmarks(outputs, inputs["crop_matrices"], inputs["image_indices"],
                                                inputs["boxes"])[0][0]["landmarks"]
    np.testing.assert_allclose(objects[0]["landmarks"], expected.numpy(), atol=1e-4)


def test_batches_empty_boxes_and_whole_image(saved_model):
    pipe = pipeline("hfvid-unsupervised-landmarks", model=str(saved_model))
    images = [np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 128, np.uint8)]
    assert pipe(images[0], boxes=[]) == []  # no object -> empty result
    results = pipe(images, batch_size=2, face_detector="full_image")  # the whole image is the object
    assert len(results) == 2 and all(len(r) == 1 and r[0]["box"] == [0.0, 0.0, 63.0, 63.0] for r in results)
    with pytest.raises(ValueError, match="boxes"):
        pipe(images, boxes=[[[0, 0, 10, 10]]])
