"""Face detection on real photographs (scikit-image's), detector output normalisation and video tracking."""

import numpy as np
import pytest
import torch
from PIL import Image

from hfvid.modules.face_detection import (
    FaceTracker,
    box_iou,
    normalize_detections,
    resolve_face_detector,
    track_faces,
)

skdata = pytest.importorskip("skimage.data")

# Hand-measured face boxes (eyebrow/hairline to chin, cheek to cheek), read off a pixel grid drawn on each photo.
ASTRONAUT_FACE = [184, 72, 272, 176]  # skimage.data.astronaut(): Eileen Collins, NASA (public domain)
CAMERAMAN_FACE = [192, 128, 254, 194]  # skimage.data.camera(): the cameraman, 3/4 view (ear to nose tip)
FACE_FREE = ("coffee", "chelsea", "rocket", "coins", "immunohistochemistry", "gravel", "page")


@pytest.fixture(scope="module")
def astronaut():
    return Image.fromarray(skdata.astronaut())


@pytest.fixture(scope="module")
def mtcnn():
    return resolve_face_detector("mtcnn")


def test_default_detector_finds_the_astronaut(astronaut, mtcnn):
    default = resolve_face_detector()
    faces = default(astronaut)
    assert len(faces) == 1
    assert box_iou(faces[0]["box"], ASTRONAUT_FACE)[0, 0] > 0.65
    assert faces[0]["score"] > 0.99
    # the five O-Net points: eyes above the nose above the mouth corners, all inside the box
    points = np.asarray(faces[0]["keypoints"])
    x1, y1, x2, y2 = faces[0]["box"]
    assert ((points[:, 0] > x1) & (points[:, 0] < x2) & (points[:, 1] > y1) & (points[:, 1] < y2)).all()
    assert points[0, 1] < points[2, 1] < points[3, 1] and points[0, 0] < points[1, 0]
    assert mtcnn(np.asarray(astronaut)) == faces  # numpy frames give the same result as PIL


def test_grayscale_photo_and_two_people(astronaut, mtcnn):
    camera = Image.fromarray(skdata.camera())  # grayscale: converted to RGB
    faces = mtcnn(camera)
    assert len(faces) == 1 and box_iou(faces[0]["box"], CAMERAMAN_FACE)[0, 0] > 0.6
    # both people side by side in one picture: one box each, at the right place
    both = Image.new("RGB", (1024, 512))
    both.paste(astronaut, (0, 0))
    both.paste(camera.convert("RGB"), (512, 0))
    faces = mtcnn(both)
    assert len(faces) == 2
    expected = [ASTRONAUT_FACE, [CAMERAMAN_FACE[0] + 512, CAMERAMAN_FACE[1], CAMERAMAN_FACE[2] + 512, CAMERAMAN_FACE[3]]]
    assert (box_iou([f["box"] for f in faces], expected).max(1) > 0.6).all()
    assert faces[0]["score"] >= faces[1]["score"]
    assert len(resolve_face_detector("mtcnn", max_faces=1)(both)) == 1
    assert resolve_face_detector("mtcnn", min_score=1.01)(both) == []


@pytest.mark.parametrize("name", FACE_FREE)
def test_no_false_faces_on_face_free_photos(name, mtcnn):
    assert mtcnn(Image.fromarray(getattr(skdata, name)())) == []


def test_recall_on_lfw_faces_and_no_hits_on_non_faces(mtcnn):
    """scikit-image's LFW subset: 100 real face crops and 100 non-face patches (25 px, upscaled to 100 px)."""
    data = skdata.lfw_subset()

    def found(patch):
        canvas = Image.new("L", (160, 160), 128)
        canvas.paste(Image.fromarray((patch * 255).astype(np.uint8)).resize((100, 100), Image.BICUBIC), (30, 30))
        return len(mtcnn(canvas)) > 0

    hits = np.array([found(patch) for patch in data])
    assert hits[:100].mean() >= 0.95  # measured 0.98
    assert hits[100:].sum() == 0


def test_full_image_and_bad_specs(astronaut):
    assert resolve_face_detector("full_image")(astronaut) == [{"box": [0.0, 0.0, 512.0, 512.0], "score": 1.0}]
    with pytest.raises(ValueError, match="unknown detector 'retinaface'"):
        resolve_face_detector("retinaface")
    with pytest.raises(ValueError, match="expected a detector name"):
        resolve_face_detector(3)
    with pytest.raises(ValueError, match="max_faces"):
        resolve_face_detector("mtcnn", max_faces=0)
    with pytest.raises(ValueError, match="min_score"):
        resolve_face_detector("mtcnn", min_score=float("nan"))


def test_normalize_detections_forms():
    box, other = [10, 20, 50, 60], [30, 30, 90, 100]
    assert normalize_detections(None, 100, 100) == []
    assert normalize_detections([], 100, 100) == []
    assert normalize_detections(np.zeros((0, 4)), 100, 100) == []
    assert normalize_detections(box, 100, 100) == [{"box": [10.0, 20.0, 50.0, 60.0], "score": 1.0}]
    # (K, 5) arrays: sorted by the score column
    faces = normalize_detections(torch.tensor([box + [0.2], other + [0.9]]), 100, 100)
    assert [f["score"] for f in faces] == pytest.approx([0.9, 0.2]) and faces[0]["box"] == [30.0, 30.0, 90.0, 100.0]
    # transformers object-detection output
    hf = [{"score": 0.5, "label": "face", "box": {"xmin": 10, "ymin": 20, "xmax": 50, "ymax": 60}},
          {"score": 0.8, "label": "face", "box": {"xmin": 30, "ymin": 30, "xmax": 90, "ymax": 100}}]
    faces = normalize_detections(hf, 100, 100)
    assert [f["box"] for f in faces] == [[30.0, 30.0, 90.0, 100.0], [10.0, 20.0, 50.0, 60.0]]
    assert faces[0]["label"] == "face"
    for bad, message in [([[float("nan"), 0, 10, 10]], "NaN"), ([[200, 200, 300, 300]], "wholly outside"),
                         ([[50, 50, 10, 10]], "reversed"), ("face", "expected"), ([[1, 2, 3]], "shape"),
                         ([{"score": 1.0}], "no 'box'")]:
        with pytest.raises(ValueError, match=message):
            normalize_detections(bad, 100, 100)


def test_user_callable_gets_a_pil_image(astronaut):
    seen = []

    def detector(image):
        seen.append(type(image).__name__)
        return None if len(seen) > 1 else [[1, 1, 30, 30], [5, 5, 60, 60, 0.3]][:1]

    face_detector = resolve_face_detector(detector, max_faces=3)
    assert face_detector(np.asarray(astronaut)) == [{"box": [1.0, 1.0, 30.0, 30.0], "score": 1.0}]
    assert face_detector(astronaut) == []
    assert seen == ["Image", "Image"]
    assert resolve_face_detector(face_detector) is face_detector


def test_transformers_object_detection_model(tmp_path, astronaut):
    """A Hub id / folder runs through the stock object-detection pipeline (tiny random YOLOS saved here)."""
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor, pipeline

    config = YolosConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                         image_size=[64, 64], patch_size=16, num_detection_tokens=5, num_labels=1,
                         id2label={0: "face"}, label2id={"face": 0})
    YolosForObjectDetection(config).save_pretrained(tmp_path)
    YolosImageProcessor(size={"shortest_edge": 64, "longest_edge": 64}).save_pretrained(tmp_path)
    faces = resolve_face_detector(str(tmp_path), min_score=0.0)(astronaut)
    reference = pipeline("object-detection", model=str(tmp_path))(astronaut, threshold=0.0)
    assert len(faces) == len(reference) == 5
    expected = sorted(reference, key=lambda d: -d["score"])
    assert [f["score"] for f in faces] == pytest.approx([d["score"] for d in expected])
    assert faces[0]["box"] == [float(expected[0]["box"][k]) for k in ("xmin", "ymin", "xmax", "ymax")]
    assert faces[0]["label"] == "face"
    assert len(resolve_face_detector(str(tmp_path), min_score=0.0, max_faces=2)(astronaut)) == 2


def test_tracker_keeps_ids_on_a_stride():
    calls = []
    boxes = {0: [[10, 10, 40, 40], [60, 10, 90, 40]], 2: [[62, 12, 92, 42], [12, 11, 41, 41]], 4: [[61, 10, 91, 40]],
             6: [[12, 10, 42, 40], [61, 10, 91, 40]]}

    def detector(image):
        calls.append(len(calls))
        return boxes[2 * (len(calls) - 1)]

    frames = [np.zeros((100, 100, 3), np.uint8)] * 7
    tracked = list(track_faces(frames, detector, detect_every=2))
    assert len(calls) == 4  # frames 0, 2, 4, 6
    ids = [[f["face_id"] for f in faces] for faces in tracked]
    assert ids == [[0, 1], [0, 1], [1, 0], [1, 0], [1], [1], [2, 1]]  # swapped order keeps ids; a new face gets 2
    assert tracked[1] == tracked[0]  # carried over between detections
    with pytest.raises(ValueError, match="detect_every"):
        FaceTracker(detector, detect_every=0)
