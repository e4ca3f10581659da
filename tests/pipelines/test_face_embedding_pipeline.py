"""`hfvid-face-embedding` and the stock `image-feature-extraction` task on an FRL checkpoint."""

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

from hfvid import FaceRepresentationConfig, FaceRepresentationImageProcessor, FaceRepresentationModel


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("frl")
    torch.manual_seed(0)
    config = FaceRepresentationConfig(embedding_size=4, hidden_sizes=[4, 8, 8, 16], depths=[1, 1, 1, 1],
                                      layer_type="basic", image_size=32)
    FaceRepresentationModel(config).save_pretrained(path)
    FaceRepresentationImageProcessor(image_size=32).save_pretrained(path)
    return path


def test_face_embedding_pipeline(checkpoint):
    pipe = pipeline("hfvid-face-embedding", model=str(checkpoint))
    image = np.random.default_rng(0).integers(0, 255, (80, 100, 3), dtype=np.uint8)
    results = pipe([image, image], boxes=[[[10, 10, 50, 60], [30, 20, 90, 70]], []], batch_size=2)
    assert [len(faces) for faces in results] == [2, 0]  # an empty box list is "no face", not an error
    first = results[0][0]
    assert first["box"] == [10.0, 10.0, 50.0, 60.0] and len(first["embedding"]) == 16
    assert np.linalg.norm(first["embedding"]) == pytest.approx(1.0, abs=1e-5)
    raw = pipe(image, boxes=[10, 10, 50, 60], normalize=False)[0]["embedding"]
    assert np.allclose(np.asarray(raw) / np.linalg.norm(raw), first["embedding"], atol=1e-5)
    whole = pipe(image, face_detector="full_image")  # a face crop: the whole image is the face
    assert len(whole) == 1 and whole[0]["box"] is None


def test_faces_found_in_a_real_photo(checkpoint):
    skdata = pytest.importorskip("skimage.data")
    from hfvid.modules.face_detection import box_iou, resolve_face_detector

    pipe = pipeline("hfvid-face-embedding", model=str(checkpoint))
    photo = skdata.astronaut()
    (face,) = pipe(photo)  # no other argument: the built-in detector finds the one face
    assert box_iou(face["box"], [184, 72, 272, 176])[0, 0] > 0.65
    (detected,) = resolve_face_detector()(photo)
    np.testing.assert_allclose(face["embedding"], pipe(photo, boxes=[detected["box"]])[0]["embedding"], atol=1e-6)
    assert pipe(skdata.coffee()) == []
    json.dumps(face, allow_nan=False)


def test_detectors_and_bad_input(checkpoint):
    pipe = pipeline("hfvid-face-embedding", model=str(checkpoint))
    image = np.random.default_rng(0).integers(0, 255, (80, 100, 3), dtype=np.uint8)
    box = [10.0, 10.0, 50.0, 60.0]
    expected = pipe(image, boxes=[box])
    assert pipe(image, face_detector=lambda im: [box]) == expected  # face_detector= is honoured
    hf_output = [{"score": 0.8, "label": "face", "box": {"xmin": 10, "ymin": 10, "xmax": 50, "ymax": 60}}]
    assert pipe(image, face_detector=lambda im: hf_output) == expected
    assert pipe(image, face_detector=lambda im: None) == []
    with pytest.raises(ValueError, match="NaN"):
        pipe(image, boxes=[[float("nan"), 10, 50, 60]])
    with pytest.raises(ValueError, match="wholly outside"):
        pipe(image, boxes=[[200, 200, 260, 260]])
    with pytest.raises(ValueError, match="unexpected keyword argument.*'box'"):
        pipe(image, box=[box])


def test_stock_image_feature_extraction(checkpoint):
    from PIL import Image

    pipe = pipeline("image-feature-extraction", model=str(checkpoint))
    features = pipe(Image.fromarray(np.zeros((40, 40, 3), np.uint8)), pool=True)
    assert np.asarray(features).shape == (1, 16)


def test_processor_crop_maps_box_to_crop():
    processor = FaceRepresentationImageProcessor(image_size=32, margin=1.0, do_normalize=False)
    image = np.zeros((60, 60, 3), np.uint8)
    image[20:40, 10:30] = 255
    batch = processor(image, boxes=[[10, 20, 30, 40]])  # pixel edges [9.5, 29.5] -> the crop
    assert batch["pixel_values"].shape == (1, 3, 32, 32)
    assert batch["pixel_values"][0, :, 2:30, 2:30].min() > 0.99
    with pytest.raises(ValueError, match="x2 > x1"):
        processor(image, boxes=[[30, 20, 10, 40]])
