"""Keypoints-to-Landmarks models: conformance, losses (spec 7 items 5, 8, 9), detection, config validation."""

import pytest
import torch
from model_tester import ModelTester

from hfvid import (
    KeypointsToLandmarksConfig,
    KeypointsToLandmarksForLandmarkDetection,
    KeypointsToLandmarksModel,
)
from hfvid.models.keypoints_to_landmarks.modeling_keypoints_to_landmarks import contrastive_terms

SIZE, GRID = 64, 16


def tiny_config(**overrides) -> KeypointsToLandmarksConfig:
    values = dict(num_landmarks=5, num_clusters=10, hidden_size=16, stem_channels=8, hourglass_depth=2,
                  image_size=SIZE, heatmap_size=GRID, descriptor_dim=8, num_groups=4, min_negative_distance=1.5,
                  detector_nms_radius=1, max_keypoints=20, pairs_per_sample=32)
    return KeypointsToLandmarksConfig(**(values | overrides))


def make_inputs(batch_size: int, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.rand(batch_size, 3, SIZE, SIZE, generator=generator)}


def stage1_labels(inputs: dict) -> dict:
    """A second view, keypoints in both, positives across views and negatives within each view (fixed pattern)."""
    batch = inputs["pixel_values"].shape[0]
    generator = torch.Generator().manual_seed(batch)
    points = torch.randint(0, GRID, (batch, 6, 2), generator=generator)
    negatives = torch.randint(0, GRID, (batch, 2, 10, 4), generator=generator)
    return {
        "pixel_values_pair": inputs["pixel_values"].flip(-1),
        "keypoints": points, "keypoint_mask": torch.ones(batch, 6, dtype=torch.bool),
        "keypoints_pair": points.flip(-1), "keypoint_mask_pair": torch.ones(batch, 6, dtype=torch.bool),
        "positive_pairs": torch.cat([points, points], dim=-1), "positive_mask": torch.ones(batch, 6, dtype=torch.bool),
        "negative_pairs": negatives, "negative_mask": torch.ones(batch, 2, 10, dtype=torch.bool),
    }


def stage2_labels(inputs: dict) -> dict:
    batch = inputs["pixel_values"].shape[0]
    generator = torch.Generator().manual_seed(batch)
    mask = torch.ones(batch, 5, dtype=torch.bool)
    mask[0, 1] = False
    return {"labels": 8 + 48 * torch.rand(batch, 5, 2, generator=generator), "landmark_mask": mask}


def test_stage1_model_conformance(tmp_path):
    tester = ModelTester(KeypointsToLandmarksModel, tiny_config(), make_inputs, stage1_labels,
                         output_keys=("detection_map", "descriptors"))
    tester.run_all(tmp_path, offline=False, bad_inputs=[
        ({"pixel_values": torch.rand(1, 3, 32, 32)}, "pixel_values"),
        ({"pixel_values": torch.rand(1, 3, SIZE, SIZE), "keypoints": torch.zeros(2, 3, 2, dtype=torch.long)},
         "keypoints"),
        ({"pixel_values": torch.rand(1, 3, SIZE, SIZE), "keypoints": torch.zeros(1, 3, 2, dtype=torch.long),
          "positive_pairs": torch.zeros(1, 2, 4, dtype=torch.long)}, "pixel_values_pair"),
    ])


def test_stage2_model_conformance(tmp_path):
    config = tiny_config(flip_permutation=[1, 0, 2, 4, 3])
    tester = ModelTester(KeypointsToLandmarksForLandmarkDetection, config, make_inputs, stage2_labels,
                         output_keys=("heatmaps", "landmarks", "scores"))
    tester.run_all(tmp_path, bad_inputs=[
        ({"pixel_values": torch.rand(1, 3, 32, 32)}, "pixel_values"),
        ({"pixel_values": torch.rand(1, 3, SIZE, SIZE), "labels": torch.rand(1, 4, 2)}, "labels"),
        ({"pixel_values": torch.rand(1, 3, SIZE, SIZE), "labels": torch.rand(1, 5, 2),
          "landmark_mask": torch.ones(1, 3, dtype=torch.bool)}, "landmark_mask"),
    ])
    no_flip = KeypointsToLandmarksForLandmarkDetection(tiny_config())
    with pytest.raises(ValueError, match="flip_permutation"):
        no_flip(torch.rand(1, 3, SIZE, SIZE), flip_test=True)


def test_contrastive_loss_values():
    a = torch.tensor([[1.0, 0.0, 0.0]])
    far = torch.tensor([[0.0, 0.9, 0.0]])  # distance sqrt(1.81) > m
    pos, neg = torch.tensor([True]), torch.tensor([False])
    assert contrastive_terms(a, a, pos, 0.8).item() == 0.0
    assert contrastive_terms(a, far, neg, 0.8).item() == 0.0
    assert contrastive_terms(a, a, neg, 0.8).item() == pytest.approx(0.64, abs=1e-4)
    assert contrastive_terms(a, far, pos, 0.8).item() == pytest.approx(1.81)


def test_stage1_loss_terms_and_detector_targets():
    config = tiny_config(descriptor_loss_weight=10.0)
    model = KeypointsToLandmarksModel(config)
    inputs = make_inputs(2, 0)
    labels = stage1_labels(inputs)
    out = model(**inputs, **labels)
    assert torch.allclose(out.loss, 10 * out.descriptor_loss + out.detector_loss)
    # detector targets: 1 at the keypoints only -> a perfect detector scores zero detector loss
    target = torch.zeros(2, GRID * GRID)
    index = labels["keypoints"][..., 1] * GRID + labels["keypoints"][..., 0]
    target.scatter_(1, index, 1.0)
    assert model._detector_loss(target.view(2, 1, GRID, GRID), labels["keypoints"],
                                labels["keypoint_mask"]).item() == 0.0
    masked = model._detector_loss(target.view(2, 1, GRID, GRID), labels["keypoints"],
                                  torch.zeros_like(labels["keypoint_mask"]))
    assert masked.item() == pytest.approx(index.unique(dim=1).numel() / (2 * GRID * GRID), rel=0.5)


def test_stage2_masked_channels_add_no_loss_and_no_gradient():
    model = KeypointsToLandmarksForLandmarkDetection(tiny_config()).train()
    pixels = make_inputs(2, 1)["pixel_values"]
    labels = stage2_labels({"pixel_values": pixels})["labels"]
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[:, 3] = False
    model(pixels, labels=labels, landmark_mask=mask).loss.backward()
    out_conv = model.landmark_head.out
    assert out_conv.weight.grad[3].abs().sum() == 0 and out_conv.bias.grad[3] == 0
    assert out_conv.weight.grad[2].abs().sum() > 0
    changed = labels.clone()
    changed[:, 3] = 30.0
    with torch.no_grad():
        first = model(pixels, labels=labels, landmark_mask=mask).loss
        second = model(pixels, labels=changed, landmark_mask=mask).loss
    assert first == second


def test_stage2_targets_are_3x3_stamps():
    model = KeypointsToLandmarksForLandmarkDetection(tiny_config())
    labels = torch.tensor([[[21.4, 30.2]] * 5])  # grid (21.4 + .5) / 4 - .5 = 4.975 -> 5; (30.7) / 4 - .5 -> 7
    target = model.target_heatmaps(labels)[0, 0]
    assert target[7, 5] == 1.0 and target[7, 6] == pytest.approx(0.411, abs=1e-3)
    assert target[8, 6] == pytest.approx(0.169, abs=1e-3)
    assert (target > 0).sum() == 9


def test_head_swap_keeps_everything_but_the_last_conv():
    stage1 = KeypointsToLandmarksModel(tiny_config())
    stage2 = KeypointsToLandmarksForLandmarkDetection.from_stage1(stage1, num_landmarks=3, flip_permutation=[2, 1, 0])
    assert stage2.config.num_landmarks == 3 and stage2.config.flip_permutation == [2, 1, 0]
    for name, value in stage1.backbone.state_dict().items():
        assert torch.equal(value, stage2.backbone.state_dict()[name]), name
    for name, value in stage1.descriptor_head.state_dict().items():
        if not name.startswith("out."):
            assert torch.equal(value, stage2.landmark_head.state_dict()[name]), name
    assert stage2.landmark_head.out.weight.shape == (3, 16, 1, 1)
    heatmaps = stage2(torch.rand(1, 3, SIZE, SIZE)).heatmaps
    assert heatmaps.shape == (1, 3, GRID, GRID)
    # the new output conv starts near zero (N(0, landmark_head_init_std), no bias), not with Kaiming-sized maps
    assert stage2.landmark_head.out.weight.std() < 3 * stage2.config.landmark_head_init_std
    assert not stage2.landmark_head.out.bias.any() and heatmaps.abs().max() < 0.1


def test_detect_sample_and_predict_landmarks():
    model = KeypointsToLandmarksModel(tiny_config(detector_threshold=0.5)).eval()
    detection = torch.zeros(2, 1, GRID, GRID)
    detection[0, 0, 4, 6], detection[0, 0, 4, 7] = 0.9, 0.3  # peak with a right neighbour -> x + 0.25
    detection[0, 0, 10, 10] = 0.6
    points = model.detect_keypoints(detection)
    assert len(points[1]) == 0  # an image with no keypoint is fine
    assert points[0].tolist() == [[6.25, 4.0], [10.0, 10.0]]
    filled = KeypointsToLandmarksModel(tiny_config(detector_threshold=0.5, min_keypoints=3)).detect_keypoints(detection)
    assert len(filled[0]) == 3 and len(filled[1]) == 3
    detection[1, 0, 0, 8], detection[1, 0, 8, GRID - 2] = 0.9, 0.8  # on the edge / one cell inside
    inner = KeypointsToLandmarksModel(tiny_config(detector_threshold=0.5, detector_border=1)).detect_keypoints(detection)
    assert inner[1].tolist() == [[GRID - 2, 8.0]]
    descriptors = torch.randn(2, 8, GRID, GRID)
    sampled = model.sample_descriptors(descriptors, [torch.tensor([[3.0, 5.0]]), torch.zeros(0, 2)])
    expected = torch.nn.functional.normalize(descriptors[0, :, 5, 3], dim=0)
    assert torch.allclose(sampled[0][0], expected, atol=1e-5) and sampled[1].shape == (0, 8)
    model.k_centroids.copy_(torch.nn.functional.normalize(torch.randn(5, 8), dim=1))
    landmarks = model.predict_landmarks(torch.rand(2, 3, SIZE, SIZE))
    assert landmarks.shape == (2, 5, 2)
    found = torch.isfinite(landmarks).all(-1)
    assert ((landmarks[found] >= -0.5) & (landmarks[found] < SIZE)).all()


@pytest.mark.parametrize("field, value, fragment", [
    ("num_landmarks", 20, "num_clusters"),
    ("variant", "iccv", "variant"),
    ("image_size", 128, "heatmap_size"),
    ("hidden_size", 30, "hidden_size"),
    ("detector_threshold", 1.5, "detector_threshold"),
    ("flip_permutation", [0, 0, 1, 2, 3], "flip_permutation"),
    ("min_keypoints", 50, "min_keypoints"),
    ("detector_border", 8, "detector_border"),
    ("landmark_head_init_std", 0.0, "landmark_head_init_std"),
    ("num_clusters", "many", "num_clusters"),
])
def test_config_validation(field, value, fragment):
    with pytest.raises(ValueError, match=fragment):
        tiny_config(**{field: value})
