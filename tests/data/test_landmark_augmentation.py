"""Landmark training augmentation: geometry (rotation + scale + mirror with the landmark permutation) moves image and
labels together, pixel-only draws (occlusion, blur) never move a label, and every draw is reproducible."""

import numpy as np
import pytest
import torch

from hfvid.data.landmark_augmentation import gaussian_blur, random_blur, random_occlusion
from hfvid.data.landmarks import LandmarkTrainingViews, similarity_about
from hfvid.models.subpixel_fan import SubpixelFANImageProcessor
from hfvid.modules.heatmaps import FLIP_PERMUTATIONS, compose_affine, flip_points
from hfvid.modules.images import crop_faces

SIZE, CROP = 96, 64
BOX = [24.0, 24.0, 72.0, 72.0]
# (outer corner of the subject's right eye, of the left eye) and one more mirror pair per scheme (0-based).
EYE_PAIRS = {"ibug68": [(36, 45), (39, 42)], "wflw98": [(60, 72), (96, 97)], "cofw29": [(8, 9), (0, 1)],
             "aflw19": [(6, 11), (7, 10)], "aflw21": [(6, 11), (12, 16)]}


def dot_image(point, sigma=1.5):
    """A black image with one Gaussian dot (peak 1) centred at the sub-pixel ``point`` (x, y)."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    dot = np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * sigma**2))
    return np.repeat(dot[..., None], 3, axis=2).astype(np.float32)


def centroid(crop, near, radius=5):
    """Intensity centroid (x, y) of channel 0 of ``crop`` inside a window around ``near``."""
    x0, y0 = (int(round(float(v))) for v in near)
    window = crop[0, max(y0 - radius, 0):y0 + radius + 1, max(x0 - radius, 0):x0 + radius + 1].double()
    ys, xs = torch.meshgrid(torch.arange(window.shape[0]), torch.arange(window.shape[1]), indexing="ij")
    total = window.sum()
    assert total > 1.0, f"no dot near {near}"
    return torch.stack([(xs * window).sum() / total + max(x0 - radius, 0),
                        (ys * window).sum() / total + max(y0 - radius, 0)])


def views(records, perm, **kwargs):
    defaults = dict(rotation=30.0, scale_range=(0.75, 1.25), flip_prob=0.5, color_jitter=0.0, second_view=False)
    return LandmarkTrainingViews(records, SubpixelFANImageProcessor(crop_size=CROP), flip_permutation=perm,
                                 **{**defaults, **kwargs})


@pytest.mark.parametrize("scheme", ["aflw19", "cofw29"])
def test_labels_follow_the_warped_and_mirrored_pixels(scheme):
    """One dot per landmark: after rotation, scale, shift and (with probability 0.5) a mirror, the dot drawn at
    point j is found at the label of point j, or of its mirror partner perm[j] in a mirrored draw, to < 0.25 px."""
    perm = FLIP_PERMUTATIONS[scheme]
    n = len(perm)
    jitter = np.random.default_rng(0).uniform(-1, 1, size=(n, 2))
    points = (np.array([(36 + 5 * (i % 5), 36 + 5 * (i // 5)) for i in range(n)]) + jitter).astype(np.float32)
    record = {"image": None, "landmarks": points, "box": BOX}
    data = views([record], perm)
    errors, mirrored_draws = [], []
    for epoch in range(8):
        data.set_epoch(epoch)
        mirrored = None
        for j in range(n):
            record["image"] = dot_image(points[j])
            item = data[0]
            crop, labels = item["pixel_values"], item["labels"]
            peak = divmod(int(crop[0].argmax()), CROP)
            found = centroid(crop, (peak[1], peak[0]))
            k = int((labels - found).norm(dim=-1).argmin())
            assert k in (j, perm[j]), (epoch, j, k)
            if perm[j] != j:
                mirrored = k == perm[j] if mirrored is None else mirrored
                assert (k == perm[j]) == mirrored, "one draw mirrors every point or none"
            errors.append(float((found - labels[k]).norm()))
        mirrored_draws.append(mirrored)
    assert max(errors) < 0.25, max(errors)
    assert any(mirrored_draws) and not all(mirrored_draws)


def test_mirror_and_permutation_agree_with_the_pixels():
    """With flip_prob=1 and no rotation/scale, the crop is the exact mirror of the plain crop and the labels are
    the mirrored labels permuted: a dot at a left-eye point shows up at the right-eye label."""
    perm = FLIP_PERMUTATIONS["aflw19"]
    points = np.random.default_rng(1).uniform(36, 60, size=(19, 2)).astype(np.float32)
    record = {"image": dot_image(points[6]), "landmarks": points, "box": BOX}
    plain = views([record], perm, flip_prob=0.0, rotation=0.0, scale_range=(1.0, 1.0), shift=0.0)[0]
    flipped = views([record], perm, flip_prob=1.0, rotation=0.0, scale_range=(1.0, 1.0), shift=0.0)[0]
    torch.testing.assert_close(flipped["pixel_values"], plain["pixel_values"].flip(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(flipped["labels"], flip_points(plain["labels"], CROP, perm), atol=1e-4, rtol=0)
    # point 6 (an outer eye corner) is now the label of point 11, the other outer eye corner
    assert (centroid(flipped["pixel_values"], flipped["labels"][11]) - flipped["labels"][11]).norm() < 0.1


@pytest.mark.parametrize("scheme", sorted(EYE_PAIRS))
def test_flip_permutation_is_an_involution_mapping_left_eye_to_right_eye(scheme):
    perm = torch.tensor(FLIP_PERMUTATIONS[scheme])
    n = {"ibug68": 68, "wflw98": 98, "cofw29": 29, "aflw19": 19, "aflw21": 21}[scheme]
    assert len(perm) == n and torch.equal(perm[perm], torch.arange(n))
    for right, left in EYE_PAIRS[scheme]:
        assert perm[right] == left and perm[left] == right
    points = torch.rand(3, n, 2) * 100
    torch.testing.assert_close(flip_points(flip_points(points, 100, perm.tolist()), 100, perm.tolist()), points,
                               atol=1e-5, rtol=0)


def test_aflw19_is_aflw21_without_the_ears():
    keep = [i for i in range(21) if i not in (12, 16)]
    full = FLIP_PERMUTATIONS["aflw21"]
    assert [keep.index(full[i]) for i in keep] == FLIP_PERMUTATIONS["aflw19"]


def test_image_mirror_twice_is_identity():
    mirror = similarity_about((CROP - 1) / 2, 0.0, 1.0, (0.0, 0.0), mirror=True)
    torch.testing.assert_close(compose_affine(mirror, mirror), torch.eye(3)[:2], atol=1e-6, rtol=0)
    image = torch.rand(3, CROP, CROP)
    twice = crop_faces(crop_faces(image, mirror[None], CROP)[0], mirror[None], CROP)[0]
    torch.testing.assert_close(twice, image, atol=1e-5, rtol=0)


def test_draws_are_reproducible_under_a_seed():
    records = [{"image": dot_image((40.0 + i, 50.0)), "landmarks": np.full((19, 2), 48.0, np.float32), "box": BOX}
               for i in range(3)]
    kwargs = dict(occlusion_prob=0.5, blur_prob=0.5, color_jitter=0.2, second_view=True)
    perm = FLIP_PERMUTATIONS["aflw19"]
    first, second = views(records, perm, **kwargs), views(records, perm, **kwargs)
    for index in range(3):
        a, b = first[index], second[index]
        for key in a:
            assert torch.equal(a[key], b[key]), key
    second.set_epoch(1)
    assert not torch.equal(first[0]["pixel_values"], second[0]["pixel_values"])
    other = views(records, perm, seed=1, **kwargs)
    assert not torch.equal(first[0]["pixel_values"], other[0]["pixel_values"])


def test_occlusion_and_blur_never_move_landmarks():
    points = np.random.default_rng(2).uniform(36, 60, size=(19, 2)).astype(np.float32)
    records = [{"image": dot_image(points[0]), "landmarks": points, "box": BOX}]
    perm = FLIP_PERMUTATIONS["aflw19"]
    clean = views(records, perm)
    corrupted = views(records, perm, occlusion_prob=1.0, blur_prob=1.0)
    for epoch in range(4):
        clean.set_epoch(epoch)
        corrupted.set_epoch(epoch)
        a, b = clean[0], corrupted[0]
        assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["landmark_mask"], b["landmark_mask"])
        assert not torch.equal(a["pixel_values"], b["pixel_values"])


def test_blur_keeps_a_dot_centred_and_occlusion_only_fills_one_rectangle():
    crop = torch.from_numpy(dot_image((47.3, 40.6))[:CROP, :CROP]).permute(2, 0, 1).contiguous()
    before = centroid(crop, (47.3, 40.6), radius=8)
    for sigma in (0.5, 1.0, 2.0):
        blurred = gaussian_blur(crop, sigma)
        assert blurred.max() < crop.max()
        torch.testing.assert_close(centroid(blurred, (47.3, 40.6), radius=8), before, atol=0.02, rtol=0)
    rng = np.random.default_rng(0)
    occluded = random_occlusion(torch.zeros(3, CROP, CROP), rng, (0.1, 0.4))
    rows, cols = torch.nonzero(occluded.sum(0) > 0, as_tuple=True)
    height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
    assert 0.1 * CROP - 1 <= height <= 0.4 * CROP + 1 and 0.1 * CROP - 1 <= width <= 0.4 * CROP + 1
    assert (occluded.sum(0) > 0).sum() > 0.9 * height * width  # one filled rectangle
    assert random_blur(crop, np.random.default_rng(0), (1.0, 1.0)).shape == crop.shape


def test_visible_flags_become_the_mirrored_mask():
    perm = FLIP_PERMUTATIONS["aflw19"]
    visible = np.ones(19, bool)
    visible[6] = False  # an outer eye corner is hidden
    record = {"image": dot_image((48.0, 48.0)), "landmarks": np.full((19, 2), 48.0, np.float32), "box": BOX,
              "visible": visible}
    plain = views([record], perm, flip_prob=0.0)[0]["landmark_mask"]
    mirrored = views([record], perm, flip_prob=1.0)[0]["landmark_mask"]
    assert not plain[6] and plain.sum() == 18
    assert not mirrored[11] and mirrored.sum() == 18


def test_bad_augmentation_settings_fail_clearly():
    records = [{"image": dot_image((48.0, 48.0)), "landmarks": np.zeros((19, 2), np.float32), "box": BOX}]
    with pytest.raises(ValueError, match="occlusion_prob"):
        views(records, None, occlusion_prob=1.5)
    with pytest.raises(ValueError, match="blur_sigma"):
        views(records, None, blur_sigma=(2.0, 1.0))
    with pytest.raises(ValueError, match="occlusion_size"):
        views(records, None, occlusion_size=(0.1, 2.0))
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(torch.zeros(3, 8, 8), 0.0)
