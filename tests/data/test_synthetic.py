"""Synthetic faces: determinism, layout, mirror-symmetric template and dots exactly on the landmarks."""

import numpy as np
import pytest

from hfvid.data.synthetic import (
    MEAN_FACE_68,
    MIRROR_68,
    synthetic_face,
    synthetic_face_dataset,
    synthetic_faces,
)

SPEC_MIRROR = (
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
)


def test_template_is_mirror_symmetric():
    assert MIRROR_68.tolist() == SPEC_MIRROR
    mirrored = MEAN_FACE_68.copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    np.testing.assert_allclose(mirrored, MEAN_FACE_68[MIRROR_68], atol=1e-6)
    assert MEAN_FACE_68.min() >= 0 and MEAN_FACE_68.max() <= 1
    # layout: 36 is the image-left outer eye corner, 45 the image-right one
    assert MEAN_FACE_68[36, 0] == MEAN_FACE_68[36:42, 0].min()
    assert MEAN_FACE_68[45, 0] == MEAN_FACE_68[42:48, 0].max()


def test_deterministic_and_shapes():
    a, b = synthetic_face(7), synthetic_face(7)
    for key in ("image", "landmarks", "box"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["image"], synthetic_face(8)["image"])
    assert a["image"].shape == (128, 128, 3) and a["image"].dtype == np.uint8
    assert a["landmarks"].shape == (68, 2) and a["landmarks"].dtype == np.float32
    assert a["box"].shape == (4,) and a["box"].dtype == np.float32
    np.testing.assert_allclose(a["box"], [*a["landmarks"].min(0), *a["landmarks"].max(0)], atol=1e-4)
    batch = synthetic_faces(3, image_size=64, seed=2)
    np.testing.assert_array_equal(batch[1]["image"], synthetic_faces(3, image_size=64, seed=2)[1]["image"])
    assert batch[0]["image"].shape == (64, 64, 3)


@pytest.mark.parametrize("size", [64, 128])
def test_landmarks_inside_image_and_face_scale(size):
    for face in synthetic_faces(20, image_size=size, seed=3):
        pts = face["landmarks"]
        assert pts.min() >= 0 and pts.max() <= size - 1
        extent = max(np.ptp(pts, axis=0))
        assert 0.4 * size < extent < 0.9 * size
        assert not np.allclose(pts, np.round(pts))  # genuinely sub-pixel


def test_subset_selection():
    idx = [36, 45, 30, 48, 54]
    full, sub = synthetic_face(5), synthetic_face(5, landmark_indices=idx)
    np.testing.assert_array_equal(sub["landmarks"], full["landmarks"][idx])
    np.testing.assert_array_equal(sub["image"], full["image"])
    np.testing.assert_array_equal(sub["box"], full["box"])


def _dot_centroid(image, x, y):
    """Weighted centroid of the dark dot near (x, y): darkness above 50 % of the local contrast."""
    pad = 6
    g = np.pad(image.astype(float).mean(-1), pad, mode="edge")
    x, y = x + pad, y + pad
    cx, cy = int(round(x)), int(round(y))
    bright = np.percentile(g[cy - 4:cy + 5, cx - 4:cx + 5], 90)
    dark = g[cy - 1:cy + 2, cx - 1:cx + 2].min()
    yy, xx = np.mgrid[cy - 2:cy + 3, cx - 2:cx + 3]
    w = np.clip(bright - g[cy - 2:cy + 3, cx - 2:cx + 3] - 0.5 * (bright - dark), 0, None)
    w = w * ((xx - cx) ** 2 + (yy - cy) ** 2 <= 5)
    return np.array([(w * xx).sum() / w.sum() - pad, (w * yy).sum() / w.sum() - pad])


def test_dots_sit_on_the_landmarks():
    errors, rounded = [], []
    for face in synthetic_faces(40, seed=11):
        for k in (17, 26, 36, 45):  # isolated dark dots: brow ends and outer eye corners
            est = _dot_centroid(face["image"], *face["landmarks"][k])
            errors.append(np.linalg.norm(est - face["landmarks"][k]))
            rounded.append(np.linalg.norm(est - np.round(face["landmarks"][k])))
    errors = np.array(errors)
    assert np.median(errors) < 0.2
    assert np.quantile(errors, 0.95) < 0.5
    assert errors.mean() < 0.6 * np.mean(rounded)  # rendered from continuous, not rounded, coordinates


def test_dataset_columns():
    ds = synthetic_face_dataset(3, image_size=64, seed=1, landmark_indices=[36, 45, 30, 48, 54])
    assert len(ds) == 3
    assert set(ds.column_names) == {"image", "landmarks", "box", "image_path"}
    row = ds[0]
    assert row["image"].size == (64, 64) and row["image_path"] == ""
    ref = synthetic_faces(1, image_size=64, seed=1, landmark_indices=[36, 45, 30, 48, 54])[0]
    np.testing.assert_allclose(row["landmarks"], ref["landmarks"], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(row["image"]), ref["image"])
