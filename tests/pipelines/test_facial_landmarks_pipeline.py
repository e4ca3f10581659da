"""`pipeline("hfvid-facial-landmarks")` on a tiny saved SH-FAN: inputs, boxes, detectors, batching, output mapping."""

import json

import numpy as np
import pytest
import torch

import hfvid  # noqa: F401  (registers the task)
from transformers import pipeline

from hfvid import SubpixelFANImageProcessor, SubpixelFANConfig, SubpixelFANForFacialLandmarkDetection
from hfvid.models.subpixel_fan import SubpixelFANModelOutput
from hfvid.modules.heatmaps import encode_heatmaps, to_map_coords

CROP = 64
BOX = [12.0, 10.0, 70.0, 80.0]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Tiny randomly initialised 5-point model (with a mirror table) and its processor, saved to disk."""
    torch.manual_seed(0)
    config = SubpixelFANConfig(
        num_stacks=1, hidden_size=32, hourglass_depth=2, image_size=CROP, heatmap_size=CROP // 4,
        num_landmarks=5, landmark_scheme="custom", flip_permutation=[1, 0, 2, 4, 3],
    )
    path = tmp_path_factory.mktemp("tiny-fan")
    SubpixelFANForFacialLandmarkDetection(config).eval().save_pretrained(path)
    SubpixelFANImageProcessor(crop_size=CROP).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pipe(model_dir):
    return pipeline("hfvid-facial-landmarks", model=str(model_dir))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (90, 100, 3), dtype=np.uint8) for _ in range(3)]


def manual(pipe, image, boxes, flip_test=True):
    """Reference: processor -> model -> post_process, by hand."""
    inputs = pipe.image_processor(image, boxes=boxes)
    with torch.no_grad():
        outputs = pipe.model(pixel_values=inputs["pixel_values"], flip_test=flip_test)
    return pipe.image_processor.post_process_facial_landmarks(
        outputs, inputs["crop_matrices"], image_indices=inputs["image_indices"], boxes=inputs["boxes"]
    )


def assert_faces_close(faces, expected, atol=1e-4):
    assert len(faces) == len(expected)
    for face, ref in zip(faces, expected):
        np.testing.assert_allclose(face["box"], np.asarray(ref["box"]), atol=atol)
        np.testing.assert_allclose(face["landmarks"], np.asarray(ref["landmarks"]), atol=atol)
        np.testing.assert_allclose(face["scores"], np.asarray(ref["scores"]), atol=atol)


def test_output_format_and_manual_equivalence(pipe, images):
    faces = pipe(images[0], boxes=[BOX, [40, 30, 95, 88]])
    json.dumps(faces)  # JSON-serialisable: plain lists of floats
    assert [sorted(face) for face in faces] == [["box", "landmarks", "scores"]] * 2
    assert faces[0]["box"] == BOX
    assert np.asarray(faces[0]["landmarks"]).shape == (5, 2) and len(faces[0]["scores"]) == 5
    assert_faces_close(faces, manual(pipe, images[0], [BOX, [40, 30, 95, 88]])[0])


def test_landmarks_are_in_original_image_pixels(pipe, images, monkeypatch):
    """With heatmaps fixed at known crop points, the output is those points mapped by the face-alignment rule."""
    crop_points = torch.tensor([[10.0, 12.0], [50.25, 20.5], [31.5, 31.5], [20.75, 45.0], [44.0, 51.5]])
    heatmaps = encode_heatmaps(to_map_coords(crop_points, 4.0)[None], CROP // 4, sigma=2.0)

    def fake_fan(pixel_values, return_dict=True, **kwargs):
        return SubpixelFANModelOutput(heatmaps=(heatmaps.expand(len(pixel_values), -1, -1, -1),))

    monkeypatch.setattr(pipe.model.fan, "forward", fake_fan)
    (face,) = pipe(images[0], boxes=[BOX], flip_test=False)
    x1, y1, x2, y2 = BOX
    side = 200.0 * ((x2 - x1) + (y2 - y1)) / 195.0
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2 - 0.12 * (y2 - y1)])
    expected = centre + (crop_points.numpy() + 0.5 - CROP / 2) * side / CROP
    # local soft-argmax inverts the continuous encoding to ~0.02 heatmap px = 0.08 crop px
    np.testing.assert_allclose(face["landmarks"], expected, atol=0.1 * side / CROP)
    np.testing.assert_allclose(face["scores"], 1.0, atol=0.1)


def test_path_pil_and_numpy_inputs_agree(pipe, images, tmp_path):
    from PIL import Image

    Image.fromarray(images[1]).save(tmp_path / "face.png")
    reference = pipe(images[1], boxes=[BOX])
    assert len(reference) == 1
    assert_faces_close(pipe(str(tmp_path / "face.png"), boxes=[BOX]), reference, atol=0)
    assert_faces_close(pipe(Image.fromarray(images[1]), boxes=[BOX]), reference, atol=0)
    # a single box may be given flat
    assert_faces_close(pipe(images[1], boxes=BOX), reference, atol=0)


def test_full_image_box_for_face_crops(pipe, images):
    (face,) = pipe(images[2], face_detector="full_image")
    assert face["box"] == [0.0, 0.0, 99.0, 89.0]
    assert_faces_close([face], manual(pipe, images[2], None)[0])


def test_lists_with_per_image_boxes_and_no_face(pipe, images):
    boxes = [[BOX], [], [BOX, [30, 20, 90, 85]]]
    results = pipe(images, boxes=boxes)
    assert [len(r) for r in results] == [1, 0, 2]
    assert results[1] == []
    assert_faces_close(results[0], manual(pipe, images[0], [BOX])[0])
    assert_faces_close(results[2], manual(pipe, images[2], boxes[2])[0])
    with pytest.raises(ValueError, match="3 images but boxes for 2"):
        pipe(images, boxes=boxes[:2])


def test_face_detector(pipe, images):
    calls = []

    def detector(image):
        calls.append(image)
        return [BOX]

    results = pipe(images[:2], face_detector=detector)
    assert len(calls) == 2 and [len(r) for r in results] == [1, 1]
    assert_faces_close(results[1], manual(pipe, images[1], [BOX])[0])
    assert pipe(images[0], face_detector=lambda image: []) == []
    assert pipe(images[:2], face_detector=lambda image: np.zeros((0, 4))) == [[], []]
    # explicit boxes win over the detector
    assert pipe(images[0], boxes=[BOX, BOX], face_detector=lambda image: []) != []


def test_batch_size_does_not_change_results(pipe, images):
    boxes = [[BOX, [5, 5, 60, 60]], [], [[30, 20, 90, 85]]]
    one = pipe(images, boxes=boxes, batch_size=1)
    four = pipe(images, boxes=boxes, batch_size=4)
    assert [len(r) for r in one] == [len(r) for r in four] == [2, 0, 1]
    for a, b in zip(one, four):
        assert_faces_close(a, b, atol=1e-4)


def test_flip_test_on_and_off(pipe, images):
    on = pipe(images[0], boxes=[BOX], flip_test=True)
    off = pipe(images[0], boxes=[BOX], flip_test=False)
    default = pipe(images[0], boxes=[BOX])  # on: the model has a mirror table
    assert_faces_close(on, manual(pipe, images[0], [BOX], flip_test=True)[0])
    assert_faces_close(off, manual(pipe, images[0], [BOX], flip_test=False)[0])
    assert_faces_close(default, on, atol=0)
    assert not np.allclose(on[0]["scores"], off[0]["scores"])


def test_landmark_count_mismatch_raises(pipe, images):
    inputs = pipe.image_processor(images[0], boxes=[BOX], landmarks=np.zeros((4, 2)))  # model predicts 5
    with pytest.raises(ValueError, match=r"labels must have shape \(1, 5, 2\)"):
        pipe.model(pixel_values=inputs["pixel_values"], labels=inputs["labels"])


def test_faces_found_in_a_real_photo_without_boxes(pipe):
    """`pipe(photo)` runs the built-in detector: same points as with the detected box passed by hand."""
    skdata = pytest.importorskip("skimage.data")
    from hfvid.modules.face_detection import box_iou, resolve_face_detector

    photo = skdata.astronaut()
    (face,) = pipe(photo)
    (detected,) = resolve_face_detector()(photo)
    assert box_iou(face["box"], [184, 72, 272, 176])[0, 0] > 0.65  # hand-measured face box
    assert_faces_close([face], pipe(photo, boxes=[detected["box"]]), atol=1e-5)
    json.dumps(face, allow_nan=False)
    assert pipe(skdata.coffee()) == []  # no face in the photo: no guess
    assert pipe(photo, min_score=1.01) == [] and len(pipe(photo, max_faces=1)) == 1


def test_detector_outputs_and_bad_input(pipe, images):
    hf_output = [{"score": 0.9, "label": "face", "box": {"xmin": 12, "ymin": 10, "xmax": 70, "ymax": 80}}]
    assert_faces_close(pipe(images[0], face_detector=lambda image: hf_output), manual(pipe, images[0], [BOX])[0])
    assert pipe(images[0], face_detector=lambda image: None) == []
    with pytest.raises(ValueError, match="unexpected keyword argument.*'box'.*did you mean 'box' -> 'boxes'"):
        pipe(images[0], box=[BOX])
    with pytest.raises(ValueError, match="too small"):
        pipe(np.zeros((1, 1, 3), np.uint8), boxes=[[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="NaN"):
        pipe(images[0], boxes=[[float("nan"), 0, 10, 10]])
    with pytest.raises(ValueError, match="wholly outside"):
        pipe(images[0], boxes=[[500, 500, 600, 600]])
    with pytest.raises(ValueError, match="face_detector.*NaN"):
        pipe(images[0], face_detector=lambda image: [[float("nan"), 0, 10, 10]])
