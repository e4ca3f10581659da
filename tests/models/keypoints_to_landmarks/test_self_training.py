"""Self-training pieces: pair sampler (spec 7 item 6), pseudo-labels, training views, keypoint initialisers,
correspondence recovery with a model, the processor's crop rules, and the synthetic objects."""

import numpy as np
import pytest
import torch

from hfvid import (
    CornerKeypointInitializer,
    KeypointsToLandmarksConfig,
    KeypointsToLandmarksModel,
    KeypointsToLandmarksImageProcessor,
    SuperPointKeypointInitializer,
)
from hfvid.data.synthetic_objects import synthetic_objects
from hfvid.models.keypoints_to_landmarks import GivenKeypointInitializer, initial_keypoints, remove_outliers
from hfvid.models.keypoints_to_landmarks.self_training import (
    DescriptorStore,
    PseudoLabels,
    PseudoLabelViews,
    SelfTrainingPairs,
    inverse_permutation,
    recover_correspondences_with_model,
    sample_pairs,
)
from hfvid.modules.images import image_to_tensor

GRID = 16


def tiny_config(**overrides):
    values = dict(num_landmarks=3, num_clusters=4, hidden_size=16, stem_channels=8, hourglass_depth=2,
                  image_size=64, heatmap_size=GRID, descriptor_dim=8, num_groups=4, min_negative_distance=1.5,
                  detector_nms_radius=1, max_keypoints=10, min_keypoints=4, pairs_per_sample=32)
    return KeypointsToLandmarksConfig(**(values | overrides))


def test_pair_sampler_rules():
    rng = np.random.default_rng(0)
    for _ in range(20):
        points_1, points_2 = rng.integers(0, 64, size=(12, 2)), rng.integers(0, 64, size=(9, 2))
        ids_1, ids_2 = rng.permutation(30)[:12], rng.permutation(30)[:9]
        pairs = sample_pairs(points_1, ids_1, points_2, ids_2, 500, 5.7, 64, rng)
        lookup_1 = {tuple(p): i for p, i in zip(points_1.tolist(), ids_1)}
        lookup_2 = {tuple(p): i for p, i in zip(points_2.tolist(), ids_2)}
        for row in pairs["positives"].tolist():
            assert lookup_1[tuple(row[:2])] == lookup_2[tuple(row[2:])]
        assert len(pairs["positives"]) == len(set(ids_1) & set(ids_2))
        for view, negatives in enumerate(pairs["negatives"]):
            assert len(negatives) == 500
            assert (np.linalg.norm(negatives[:, :2] - negatives[:, 2:], axis=1) >= 5.7).all()
            assert ((negatives >= 0) & (negatives <= 63)).all()
            anchors = {tuple(p) for p in (points_1, points_2)[view].tolist()}
            assert all(tuple(row[:2]) in anchors for row in negatives.tolist())
    empty = sample_pairs(np.zeros((0, 2), int), np.zeros(0), np.zeros((0, 2), int), np.zeros(0), 10, 1.0, 16, rng)
    assert len(empty["positives"]) == 0 and all(len(n) == 0 for n in empty["negatives"])


def test_pseudo_labels_round_trip_and_warm_start(tmp_path):
    table = [{"index": 0, "points": np.array([[1.0, 2.0], [3.0, 4.0]])}, {"index": 2, "points": np.array([[5.0, 6.0]])}]
    labels = PseudoLabels.from_keypoints(table)
    assert labels.ids.tolist() == [0, 1, 0] and not labels.clustered and (labels.mirror_ids == -1).all()
    labels.save(tmp_path / "labels.npz")
    loaded = PseudoLabels.load(tmp_path / "labels.npz")
    np.testing.assert_array_equal(loaded.points, labels.points)
    assert loaded.of_image(2)[0].tolist() == [[5.0, 6.0]]
    store = DescriptorStore(tmp_path / "d.f32", 4)
    store.append(torch.ones(3, 4)), store.append(torch.zeros(2, 4))
    assert store.array().shape == (5, 4) and store.array()[:3].sum() == 12


def test_self_training_items_have_fixed_shapes_and_valid_pairs():
    records = synthetic_objects(4, 64, num_parts=3, num_clutter=2)
    processor = KeypointsToLandmarksImageProcessor(crop_size=64)
    table = [{"index": i, "points": r["keypoints"]} for i, r in enumerate(records)]
    table[1]["points"] = np.zeros((0, 2), np.float32)  # an image without keypoints: no crash, no pairs
    dataset = SelfTrainingPairs(records, processor, PseudoLabels.from_keypoints(table), GRID, max_points=8,
                                num_negatives=20, min_distance=1.5)
    item = dataset[0]
    assert item["pixel_values"].shape == (3, 64, 64) and item["negative_pairs"].shape == (2, 20, 4)
    assert item["positive_mask"].sum() > 0  # warm start: the same keypoint index in both views
    empty = dataset[1]
    assert not empty["keypoint_mask"].any() and not empty["negative_mask"].any()
    batch = torch.utils.data.default_collate([dataset[i] for i in range(4)])
    model = KeypointsToLandmarksModel(tiny_config())
    assert torch.isfinite(model(**batch).loss)


def test_stage2_views_mask_absent_landmarks_and_mirror_with_the_inverse_table():
    records = synthetic_objects(2, 64, num_parts=3, num_clutter=0)
    for record in records:
        record["landmarks"] = record["landmarks"].copy()
        record["landmarks"][1] = np.nan
    processor = KeypointsToLandmarksImageProcessor(crop_size=64)
    views = PseudoLabelViews(records, processor, flip_permutation=[1, 2, 0], augment=False, cutout_prob=0)
    item = views[0]
    assert item["landmark_mask"].tolist() == [True, False, True] and torch.isfinite(item["labels"]).all()
    assert inverse_permutation([1, 2, 0]) == [2, 0, 1]
    # pseudo-labels are crop pixels: with a crop that is not the identity they come back unchanged, not re-cropped
    boxed = [dict(records[0], box=[8.0, 4.0, 40.0, 44.0])]
    plain = PseudoLabelViews(boxed, processor, augment=False, cutout_prob=0)[0]
    mask = plain["landmark_mask"]
    assert torch.allclose(plain["labels"][mask], torch.as_tensor(records[0]["landmarks"])[mask], atol=1e-3)


def test_keypoint_initialisers(tmp_path):
    image = torch.zeros(3, 40, 40)
    image[:, 10:30, 12:28] = 1.0  # a bright rectangle: four corners
    points, descriptors = CornerKeypointInitializer(max_keypoints=10)(image)
    corners = torch.tensor([[12.0, 10.0], [27.0, 10.0], [12.0, 29.0], [27.0, 29.0]])
    assert len(points) >= 4 and torch.cdist(corners, points).min(dim=1).values.max() <= 1.5
    assert descriptors.shape == (len(points), 75)

    from transformers import SuperPointConfig, SuperPointForKeypointDetection

    torch.manual_seed(0)
    config = SuperPointConfig(encoder_hidden_sizes=[4, 4, 8, 8], decoder_hidden_size=16, descriptor_decoder_dim=8)
    superpoint = SuperPointKeypointInitializer(SuperPointForKeypointDetection(config), threshold=0.0, nms_px=8,
                                               reference_height=218)
    points, descriptors = superpoint(torch.rand(3, 64, 48))
    assert points.shape[1] == 2 and descriptors.shape == (len(points), 8) and len(points) > 0
    assert (points[:, 0] < 48).all() and (points[:, 1] < 64).all()
    assert torch.allclose(descriptors.norm(dim=1), torch.ones(len(points)), atol=1e-5)
    superpoint.model.save_pretrained(tmp_path / "sp")
    assert len(SuperPointKeypointInitializer.from_pretrained(str(tmp_path / "sp"), threshold=0.0)(image)[0]) > 0


def test_outlier_removal_and_initial_keypoints_fallback():
    rng = np.random.default_rng(0)
    inliers = torch.as_tensor(rng.normal(0, 0.05, size=(60, 4)) + [1, 0, 0, 0], dtype=torch.float32)
    outliers = torch.as_tensor(rng.normal(0, 1.0, size=(10, 4)), dtype=torch.float32)
    keep = remove_outliers(torch.cat([inliers, outliers]), fraction=10 / 70, neighbors=20)
    assert keep[:60].all() and not keep[60:].any()

    records = synthetic_objects(3, 32, num_parts=3, num_clutter=1)
    records[1]["keypoints"] = records[1]["keypoints"][:1]  # fewer than 2 points -> left out, logged
    processor = KeypointsToLandmarksImageProcessor(crop_size=32)
    table = initial_keypoints(records, processor, GivenKeypointInitializer(), fraction=0.0)
    assert [row["index"] for row in table] == [0, 2]
    for record in records:
        record["keypoints"] = np.full((2, 2), -50.0, np.float32)  # outside every crop
    with pytest.raises(ValueError, match="no keypoint"):
        initial_keypoints(records, processor, GivenKeypointInitializer())


def exact_outlier_mask(descriptors, fraction, neighbors):
    """Reference: all-pairs float64 distances, median of the k nearest others, stable sort of the scores."""
    x = np.asarray(descriptors, np.float64)
    count = len(x)
    k = min(neighbors, count - 1)
    if count < 2 or fraction == 0:
        return np.ones(count, bool)
    distances = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(distances, np.inf)
    nearest = np.sort(distances, axis=1)[:, :k].astype(np.float32)
    scores = nearest[:, (k - 1) // 2]  # lower median, as torch.median
    keep = np.zeros(count, bool)
    keep[np.argsort(scores, kind="stable")[: count - int(fraction * count)]] = True
    return keep


@pytest.mark.parametrize("chunk_size", [1, 3, 16, 4096])
def test_chunked_outlier_removal_equals_the_exact_search(chunk_size):
    rng = np.random.default_rng(1)
    # small integers: every distance is exact in float32, so ties (duplicates, equal scores) are real ties
    integers = rng.integers(0, 3, size=(40, 5)).astype(np.float32)
    integers[10:15] = integers[0]  # duplicates of one point
    floats = rng.normal(size=(57, 8)).astype(np.float32)
    for data, neighbors in ((integers, 6), (integers, 1), (floats, 10), (floats, 100)):  # 100 > n - 1: all others
        for fraction in (0.0, 0.25, 0.4):
            keep = remove_outliers(torch.from_numpy(data), fraction, neighbors, chunk_size=chunk_size)
            np.testing.assert_array_equal(keep.numpy(), exact_outlier_mask(data, fraction, neighbors))
    for count in (0, 1, 2):  # fewer points than neighbours, down to none
        data = rng.normal(size=(count, 4)).astype(np.float32)
        keep = remove_outliers(torch.from_numpy(data), 0.5, 100, chunk_size=chunk_size)
        np.testing.assert_array_equal(keep.numpy(), exact_outlier_mask(data, 0.5, 100))
    with pytest.raises(ValueError, match="fraction"):
        remove_outliers(torch.from_numpy(floats), 1.0)
    with pytest.raises(ValueError, match="chunk_size"):
        remove_outliers(torch.from_numpy(floats), 0.4, chunk_size=0)


def test_recovery_with_a_model_labels_every_image_at_most_once_per_cluster(tmp_path):
    torch.manual_seed(0)
    model = KeypointsToLandmarksModel(tiny_config())
    records = synthetic_objects(6, 64, num_parts=3, num_clutter=1)
    processor = KeypointsToLandmarksImageProcessor(crop_size=64)
    labels, landmarks, result = recover_correspondences_with_model(model, records, processor, workdir=tmp_path,
                                                                   n_init=2, max_iter=20)
    assert labels.clustered and labels.ids.max() < 4
    for image in np.unique(labels.image):
        ids = labels.ids[labels.image == image]
        assert len(ids) == len(set(ids.tolist()))
    assert all(v.shape == (3, 2) for v in landmarks.values())
    assert torch.equal(model.k_centroids, torch.as_tensor(result.k_centroids))
    with pytest.raises(ValueError, match="num_clusters"):
        sparse = KeypointsToLandmarksModel(tiny_config(min_keypoints=0, max_keypoints=2))
        recover_correspondences_with_model(sparse, records[:1], processor, workdir=tmp_path)


def test_processor_crop_rules_and_round_trip():
    processor = KeypointsToLandmarksImageProcessor(crop_size=32)
    image = np.random.default_rng(0).integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
    inputs = processor(image, return_tensors="pt")
    assert torch.allclose(inputs["pixel_values"][0], image_to_tensor(image), atol=1e-5)  # whole image = identity
    celeba = KeypointsToLandmarksImageProcessor(crop_size=64, crop_rule="celeba")
    box = torch.tensor([[10.0, 20.0, 60.0, 90.0]])
    matrix = celeba.crop_matrices(box)[0]
    pad = 8 * 0.25 * ((1.2 * 60 - 10) + (2 * 90 - 20)) / 100
    corners = torch.tensor([[10 - pad, 20 - pad], [60 + pad, 90 + pad]])
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    assert torch.allclose(mapped, torch.tensor([[-0.5, -0.5], [63.5, 63.5]]), atol=1e-4)
    outputs = {"landmarks": torch.tensor([[[5.0, 7.0]]]), "scores": torch.ones(1, 1)}
    back = celeba.post_process_landmarks(outputs, matrix[None], boxes=box)[0][0]["landmarks"]
    assert torch.allclose(back @ matrix[:, :2].T + matrix[:, 2], torch.tensor([[5.0, 7.0]]), atol=1e-4)
    with pytest.raises(ValueError, match="crop_rule"):
        KeypointsToLandmarksImageProcessor(crop_rule="tight")


def test_synthetic_objects_are_seeded_and_consistent():
    first, again = synthetic_objects(3, 48, num_parts=4, num_clutter=2), synthetic_objects(3, 48, 4, 2)
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(first, again))
    record = first[0]
    assert record["image"].shape == (48, 48, 3) and record["landmarks"].shape == (4, 2)
    assert ((record["landmarks"] > 0) & (record["landmarks"] < 47)).all()
    parts = record["keypoint_parts"]
    np.testing.assert_allclose(record["keypoints"][parts >= 0][np.argsort(parts[parts >= 0])], record["landmarks"])
    with pytest.raises(ValueError, match="num_parts"):
        synthetic_objects(1, 32, num_parts=20)
