"""SubpixelFANImageProcessor: exact crop geometry, sampling accuracy, options, save/load and input validation."""

import numpy as np
import pytest
import torch

import hfvid  # noqa: F401  (registers the Auto classes)
from transformers import AutoImageProcessor

from hfvid import SubpixelFANImageProcessor
from hfvid.modules.heatmaps import apply_affine, invert_affine


def expected_matrix(box, crop_size=256, reference_scale=195.0):
    """The face-alignment crop rule written out independently: centre -> crop centre, side 200 * scale -> crop."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.12 * (y2 - y1)
    zoom = crop_size / (200.0 * ((x2 - x1) + (y2 - y1)) / reference_scale)
    centre = (crop_size - 1) / 2  # pixel centres at integers: the crop spans [-0.5, crop_size - 0.5]
    return np.array([[zoom, 0, centre - zoom * cx], [0, zoom, centre - zoom * cy]])


def blob_image(height, width, x, y, sigma):
    """Float image in [0, 1] with one Gaussian dot of std ``sigma`` px at the sub-pixel location (x, y)."""
    ys, xs = np.mgrid[0:height, 0:width]
    dot = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return np.repeat(dot[..., None], 3, axis=-1).astype(np.float32)


def test_crop_round_trip_is_exact():
    """Spec section 7 item 8: crop matrix then its inverse maps random points back to 1e-4 px."""
    generator = torch.Generator().manual_seed(0)
    processor = SubpixelFANImageProcessor()
    corners = torch.rand(6, 2, generator=generator) * 900
    boxes = torch.cat([corners, corners + 20 + torch.rand(6, 2, generator=generator) * 700], dim=1)
    matrices = processor.crop_matrices(boxes).double()
    points = torch.rand(6, 50, 2, generator=generator, dtype=torch.float64) * 1600 - 300
    back = apply_affine(invert_affine(matrices), apply_affine(matrices, points))
    assert (back - points).abs().max() < 1e-4
    for box, matrix in zip(boxes.tolist(), matrices):
        np.testing.assert_allclose(matrix.numpy(), expected_matrix(box), rtol=1e-5, atol=1e-3)
    # post-processing applies the same inverse (float32 end to end)
    crop_points = apply_affine(matrices, points).float()
    faces = processor.post_process_facial_landmarks(
        {"landmarks": crop_points, "scores": torch.zeros(6, 50)}, matrices.float()
    )
    recovered = torch.stack([face[0]["landmarks"] for face in faces]).double()
    assert (recovered - points).abs().max() < 1e-3  # float32 at |u| ~ 1000 px


@pytest.mark.parametrize(
    "box",
    [
        (30.0, 40.0, 58.0, 72.0),  # small face, zoom 1.04: upsampling
        (100.0, 80.0, 145.0, 124.0),  # zoom 0.70: plain bilinear
        (100.0, 80.0, 190.0, 190.0),  # zoom 0.31: 3x area downsampling first
        (50.0, 60.0, 230.0, 260.0),  # zoom 0.16: 6x area downsampling
        (-60.0, -40.0, 330.0, 300.0),  # zoom 0.085, partly outside the image: 11x area + zero padding
    ],
)
def test_dot_lands_where_the_crop_matrix_says(box):
    processor = SubpixelFANImageProcessor(crop_size=64)
    matrix = expected_matrix(box, crop_size=64)
    zoom = matrix[0, 0]
    rng = np.random.default_rng(int(box[2]))
    x1, y1, x2, y2 = box
    dot = np.array([(x1 + x2) / 2, (y1 + y2) / 2]) + rng.uniform(-0.15, 0.15, 2) * (x2 - x1)
    image = blob_image(280, 300, *dot, sigma=2.0 / zoom)  # about 2 px wide in the crop
    crop = processor(image, boxes=[box])["pixel_values"][0, 0].double().numpy()
    ys, xs = np.mgrid[0:64, 0:64]
    centroid = np.array([(crop * xs).sum(), (crop * ys).sum()]) / crop.sum()
    target = matrix[:, :2] @ dot + matrix[:, 2]
    # measured max error 0.018 crop px; a half-pixel slip of the area-downsampling grid would cost >= 0.25
    assert np.abs(centroid - target).max() < 0.05, (centroid, target, zoom)


def test_landmarks_become_crop_labels():
    processor = SubpixelFANImageProcessor(crop_size=64)
    box = [20.0, 30.0, 90.0, 110.0]
    landmarks = np.random.default_rng(0).uniform(10, 100, (7, 2)).astype(np.float32)
    out = processor(np.zeros((120, 100, 3), np.uint8), boxes=[box], landmarks=landmarks)
    matrix = expected_matrix(box, crop_size=64)
    expected = landmarks @ matrix[:, :2].T + matrix[:, 2]
    assert out["labels"].shape == (1, 7, 2)
    np.testing.assert_allclose(out["labels"][0].numpy(), expected, atol=1e-4)
    # two images, one box each: one landmark array per face
    out = processor([np.zeros((50, 60, 3), np.uint8)] * 2, boxes=[[box], [box]], landmarks=[landmarks, landmarks])
    assert out["labels"].shape == (2, 7, 2) and out["image_indices"].tolist() == [0, 1]


def test_whole_image_is_the_default_box():
    processor = SubpixelFANImageProcessor(crop_size=64)
    out = processor(np.zeros((40, 70, 3), np.uint8))
    assert out["boxes"].tolist() == [[0.0, 0.0, 69.0, 39.0]]
    np.testing.assert_allclose(out["crop_matrices"][0].numpy(), expected_matrix([0, 0, 69, 39], 64), atol=1e-5)
    assert out["pixel_values"].shape == (1, 3, 64, 64) and out["image_indices"].tolist() == [0]


def test_xywh_boxes_match_xyxy():
    image = np.random.default_rng(1).integers(0, 256, (90, 80, 3), dtype=np.uint8)
    xyxy = SubpixelFANImageProcessor(crop_size=64)(image, boxes=[[10, 12, 60, 75], [5, 5, 30, 40]])
    xywh = SubpixelFANImageProcessor(crop_size=64, box_format="xywh")(image, boxes=[[10, 12, 50, 63], [5, 5, 25, 35]])
    for key in ("pixel_values", "crop_matrices", "boxes"):
        torch.testing.assert_close(xywh[key], xyxy[key])


def test_normalisation_on_and_off():
    image = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    plain = SubpixelFANImageProcessor(crop_size=64)(image)["pixel_values"]
    assert plain.min() >= 0 and plain.max() <= 1  # FAN convention: [0, 1] RGB, no mean/std
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    normalised = SubpixelFANImageProcessor(crop_size=64, do_normalize=True, image_mean=mean, image_std=std)(image)
    expected = (plain - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    torch.testing.assert_close(normalised["pixel_values"], expected)


def test_save_and_load(tmp_path):
    processor = SubpixelFANImageProcessor(crop_size=128, reference_scale=165.0, do_normalize=True, box_format="xywh")
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").is_file()
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is SubpixelFANImageProcessor
    for name in ("crop_size", "reference_scale", "center_y_offset", "do_normalize", "image_mean", "image_std",
                 "box_format"):
        assert getattr(loaded, name) == getattr(processor, name), name
    image = np.random.default_rng(3).integers(0, 256, (100, 90, 3), dtype=np.uint8)
    torch.testing.assert_close(loaded(image, boxes=[[10, 10, 50, 60]])["pixel_values"],
                               processor(image, boxes=[[10, 10, 50, 60]])["pixel_values"])


def test_path_pil_and_array_inputs_agree(tmp_path):
    from PIL import Image

    array = np.random.default_rng(4).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "face.png")
    processor = SubpixelFANImageProcessor(crop_size=32)
    reference = processor(array)["pixel_values"]
    for image in (str(tmp_path / "face.png"), Image.fromarray(array), torch.from_numpy(array).permute(2, 0, 1)):
        torch.testing.assert_close(processor(image)["pixel_values"], reference)


GOOD = np.zeros((40, 50, 3), np.uint8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"images": np.zeros((40, 50, 4), np.uint8)}, r"\(40, 50, 4\)"),
        ({"images": np.zeros((40, 50, 2), np.uint8)}, r"\(40, 50, 2\)"),
        ({"images": np.zeros((1, 40, 50, 3), np.uint8)}, r"shape"),
        ({"images": np.full((40, 50, 3), 1.5, np.float32)}, r"\[0, 1\]"),
        ({"images": np.full((40, 50, 3), -0.1, np.float32)}, r"\[0, 1\]"),
        ({"images": np.zeros((40, 50, 3), np.int16)}, r"int16"),
        ({"images": GOOD, "boxes": [[30, 5, 10, 20]]}, r"x2 > x1"),
        ({"images": GOOD, "boxes": [[60, 5, 90, 20]]}, r"outside the image"),
        ({"images": GOOD, "boxes": [[-40, -30, -10, -5]]}, r"outside the image"),
        ({"images": [GOOD, GOOD], "boxes": [[[1, 1, 20, 20]]]}, r"2 images but boxes for 1"),
        ({"images": GOOD, "boxes": [[1, 1, 20, 20]], "landmarks": np.zeros((5, 3))}, r"landmarks"),
        ({"images": GOOD, "boxes": [[1, 1, 20, 20], [2, 2, 30, 30]], "landmarks": np.zeros((5, 2))}, r"landmarks"),
    ],
    ids=["hw4", "hw2", "4d", "float>1", "float<0", "int16", "x2<x1", "outside-right", "outside-topleft",
         "box-count", "landmarks-3d", "landmarks-count"],
)
def test_bad_inputs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SubpixelFANImageProcessor(crop_size=32)(**kwargs)
