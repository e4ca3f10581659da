"""GANnotation training augmentation: rotation + mirror move pixels and landmarks together (mirror with the
68-point permutation), drawn once per triplet from (seed, epoch, index)."""

import numpy as np
import pytest

from hfvid.models.gannotation.data_gannotation import TripletDataset
from hfvid.modules.heatmaps import IBUG68_FLIP_PERMUTATION

SIZE = 64


def dotted_video(frames=3):
    """Frames with a red dot at landmark 16 (face's left jaw end) and a green one at landmark 0 (right jaw end)."""
    rng = np.random.default_rng(0)
    images, landmarks = [], []
    for t in range(frames):
        points = np.stack([rng.uniform(60, 140, 68), rng.uniform(50, 150, 68)], 1)
        points[0], points[16] = (55.0 + t, 100.0), (145.0 - t, 95.0)
        image = np.zeros((200, 200, 3), np.uint8)
        for index, colour in ((0, (0, 255, 0)), (16, (255, 0, 0))):
            x, y = np.round(points[index]).astype(int)
            image[y - 3 : y + 4, x - 3 : x + 4] = colour
        images.append(image)
        landmarks.append(points)
    return {"video_id": "v", "images": images, "landmarks": np.asarray(landmarks, np.float32)}


def colour_at(crop, point):
    """Colour of the crop (3, S, S) in [-1, 1] at a point, in [0, 255]."""
    x, y = np.round(point.numpy()).astype(int)
    return ((crop[:, y, x].numpy() + 1) * 127.5).round()


@pytest.mark.parametrize("flip_prob", [0.0, 1.0])
def test_rotation_and_mirror_keep_landmarks_on_their_pixels(flip_prob):
    dataset = TripletDataset([dotted_video()], SIZE, 68, margin=16.0, rotation=30.0, flip_prob=flip_prob, seed=1)
    for index in range(len(dataset)):
        item = dataset[index]
        for name in ("source", "target", "third"):
            crop, points = item[name], item[f"landmarks_{name}"]
            red, green = (16, 0) if flip_prob == 0 else (0, 16)  # mirrored: point 0 is now the red jaw end
            np.testing.assert_allclose(colour_at(crop, points[red]), [255, 0, 0], atol=60)
            np.testing.assert_allclose(colour_at(crop, points[green]), [0, 255, 0], atol=60)
            if flip_prob:  # the mirrored face keeps its handedness: point 0 on the image left
                assert points[0, 0] < points[16, 0]


def test_augmentation_is_seeded_per_triplet_and_off_by_default():
    video = dotted_video()
    plain = TripletDataset([video], SIZE, 68)
    augmented = TripletDataset([video], SIZE, 68, rotation=20.0, flip_prob=0.5, seed=0)
    assert plain._augmentation(np.random.default_rng(0)) == (None, False)
    np.testing.assert_array_equal(augmented[1]["source"], augmented[1]["source"])
    augmented.set_epoch(1)
    first = augmented[1]["landmarks_source"]
    augmented.set_epoch(2)
    assert not np.allclose(first, augmented[1]["landmarks_source"])
    assert sorted(IBUG68_FLIP_PERMUTATION) == list(range(68))


def test_flip_needs_a_permutation_for_other_point_counts():
    video = {"video_id": "v", "images": [np.zeros((32, 32, 3), np.uint8)] * 3,
             "landmarks": np.random.default_rng(0).uniform(8, 24, (3, 5, 2)).astype(np.float32)}
    with pytest.raises(ValueError, match="flip_permutation"):
        TripletDataset([video], 16, 5, flip_prob=0.5)
    item = TripletDataset([video], 16, 5, flip_prob=1.0, flip_permutation=[1, 0, 2, 4, 3])[0]
    assert item["landmarks_source"].shape == (5, 2)
