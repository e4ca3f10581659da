"""Clip + box augmentation: boxes follow the drawn rectangle through flip, scale jitter and colour jitter."""

import numpy as np
import pytest
import torch

from hfvid.data.video_augmentation import ClipBoxAugmentation

HEIGHT, WIDTH = 48, 64


def clip_with_rectangle(x1=8, y1=12, x2=30, y2=36, frames=4):
    """A grey clip with one bright rectangle (pixels x1..x2-1, y1..y2-1) on every frame; its normalised box."""
    clip = np.full((frames, HEIGHT, WIDTH, 3), 40, np.uint8)
    clip[:, y1:y2, x1:x2] = (220, 180, 160)
    return clip, np.array([[x1 / WIDTH, y1 / HEIGHT, x2 / WIDTH, y2 / HEIGHT]], np.float32)


def found_box(frame):
    """Normalised box of the bright pixels of one frame (the rectangle drawn by clip_with_rectangle)."""
    grey = frame.astype(np.float32).mean(-1)
    ys, xs = np.nonzero(grey > (grey.min() + grey.max()) / 2)
    return np.array([xs.min() / WIDTH, ys.min() / HEIGHT, (xs.max() + 1) / WIDTH, (ys.max() + 1) / HEIGHT])


def test_flip_maps_x1_to_width_minus_x2_exactly():
    clip, boxes = clip_with_rectangle()
    out, flipped, kept = ClipBoxAugmentation(flip_prob=1.0)(clip, boxes)
    assert kept.tolist() == [0]
    np.testing.assert_allclose(flipped[0] * [WIDTH, HEIGHT, WIDTH, HEIGHT], [WIDTH - 30, 12, WIDTH - 8, 36], atol=1e-4)
    for frame in out:
        np.testing.assert_allclose(found_box(frame), flipped[0], atol=1e-6)


def test_flip_twice_is_identity():
    clip, boxes = clip_with_rectangle()
    flip = ClipBoxAugmentation(flip_prob=1.0)
    once = flip(clip, boxes)
    twice = flip(once[0], once[1])
    np.testing.assert_array_equal(twice[0], clip)
    np.testing.assert_allclose(twice[1], boxes, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_scale_and_colour_jitter_keep_boxes_on_the_rectangle_and_frames_alike(seed):
    clip, boxes = clip_with_rectangle(x1=20, y1=14, x2=44, y2=34)
    augment = ClipBoxAugmentation(flip_prob=0.5, scale_range=(1.1, 1.4), brightness=0.3, contrast=0.3,
                                  saturation=0.3, hue=0.05)
    out, moved, kept = augment(clip, boxes, torch.Generator().manual_seed(seed))
    assert out.shape == clip.shape and out.dtype == np.uint8 and kept.tolist() == [0]
    assert not np.array_equal(moved, boxes)
    np.testing.assert_allclose(found_box(out[0]), moved[0], atol=1.5 / HEIGHT)  # resampling blurs the edge
    for frame in out[1:]:  # one draw per clip: every frame transformed alike
        np.testing.assert_array_equal(frame, out[0])


def test_seeded_determinism():
    clip, boxes = clip_with_rectangle()
    augment = ClipBoxAugmentation(scale_range=(1.0, 1.5), brightness=0.4, hue=0.1)
    first = augment(clip, boxes, torch.Generator().manual_seed(7))
    second = augment(clip, boxes, torch.Generator().manual_seed(7))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    others = [augment(clip, boxes, torch.Generator().manual_seed(s))[1] for s in range(5)]
    assert any(not np.array_equal(o, first[1]) for o in others)


def test_boxes_mostly_cropped_away_are_dropped():
    clip, _ = clip_with_rectangle()
    whole = np.array([[0.0, 0.0, 1.0, 1.0], [0.4, 0.4, 0.6, 0.6]], np.float32)
    zoom = dict(flip_prob=0.0, scale_range=(2.0, 2.0))
    # at 2x a full-frame box keeps 1/4 of its area: under 30% it goes, with its index
    _, kept_boxes, kept = ClipBoxAugmentation(**zoom)(clip, whole, torch.Generator().manual_seed(0))
    assert 0 not in kept.tolist() and len(kept_boxes) == len(kept)
    _, _, kept = ClipBoxAugmentation(**zoom, min_visible=0.2)(clip, whole, torch.Generator().manual_seed(0))
    assert 0 in kept.tolist()


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale_range"):
        ClipBoxAugmentation(scale_range=(0.8, 1.2))
    with pytest.raises(ValueError, match="flip_prob"):
        ClipBoxAugmentation(flip_prob=2.0)
    with pytest.raises(ValueError, match=r"clip must be \(frames"):
        ClipBoxAugmentation()(np.zeros((8, 8, 3), np.uint8), [])
