"""BMViT: conformance, token pooling, Hungarian matching, set loss, post-processing, config, a CPU learning run."""

import itertools
import time

import numpy as np
import pytest
import torch
from model_tester import ModelTester

import hfvid  # noqa: F401  (registers the Auto classes)
from hfvid.models.bmvit import (
    BMViTConfig,
    BMViTForActionLocalization,
    BMViTHungarianMatcher,
    BMViTModel,
    BMViTVideoProcessor,
    matching_cost,
    pool_tokens,
)
from hfvid.models.bmvit.loss_bmvit import cxcywh_to_xyxy, xyxy_to_cxcywh

TINY_BACKBONE = {
    "image_size": [32, 32], "num_frames": 4, "embed_dim": 16, "num_heads": [1, 2, 2], "output_channels": [16, 32, 32],
    "stride_q": [[1, 1, 1], [1, 2, 2], [1, 1, 1]], "stride_kv": [[1, 4, 4], [1, 2, 2], [1, 1, 1]],
    "stochastic_depth_prob": 0.0,
}
CLASSES = 4


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(**overrides) -> BMViTConfig:
    return BMViTConfig(num_action_labels=CLASSES, backbone_config=dict(TINY_BACKBONE), **overrides)


def make_inputs(batch_size: int, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.randn(batch_size, 4, 3, 32, 32, generator=generator)}


def random_targets(batch: int, seed: int, people=(1, 3)) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    targets = []
    for _ in range(batch):
        count = int(torch.randint(people[0], people[1] + 1, (1,), generator=generator))
        corners = torch.rand(count, 2, generator=generator) * 0.6
        sizes = 0.1 + torch.rand(count, 2, generator=generator) * 0.3
        boxes = xyxy_to_cxcywh(torch.cat([corners, corners + sizes], dim=1))
        actions = (torch.rand(count, CLASSES, generator=generator) > 0.5).float()
        targets.append({"boxes": boxes, "action_labels": actions})
    return targets


def make_labels(inputs: dict) -> dict:
    return {"labels": random_targets(inputs["pixel_values"].shape[0], 7)}


def test_common_model_checks(tmp_path):
    bad_inputs = [
        ({"pixel_values": torch.randn(1, 3, 3, 32, 32)}, "num_frames=4"),  # a clip shorter than the model's frames
        ({"pixel_values": torch.randn(1, 4, 3, 32, 48)}, "pixel_values must have shape"),
        ({"pixel_values": torch.randn(1, 4, 3, 32, 32), "labels": [{"boxes": [[0.5, 0.5, 0.2, 0.2]],
                                                                      "action_labels": [[1, 0]]}]}, "action_labels"),
        ({"pixel_values": torch.randn(2, 4, 3, 32, 32), "labels": random_targets(1, 0)}, "list of 2 dicts"),
    ]
    tester = ModelTester(BMViTForActionLocalization, tiny_config(), make_inputs, make_labels,
                         output_keys=("logits", "pred_boxes", "action_logits"))
    # offline=False: the fresh-process check costs ~8 s of imports; the round trip here already runs under
    # HF_HUB_OFFLINE=1 (conftest) and the accelerate-launch test imports hfvid in a fresh process.
    tester.run_all(tmp_path, bad_inputs=bad_inputs, offline=False)
    # the base model (not an Auto class of its own): return_dict=False, unknown keywords, checkpointed backbone
    ModelTester(BMViTModel, tiny_config(), make_inputs, None, output_keys=("last_hidden_state",)).check_conformance()


def test_box_values_are_checked_outside_forward():
    """Box values are checked by `validate_labels` (and the processor), not by `forward`, which stays free of
    data-dependent branches: `torch.export` captures the whole inference forward in one graph."""
    model = BMViTForActionLocalization(tiny_config()).eval()
    outside = [{"boxes": [[0.5, 0.5, 1.4, 0.2]], "action_labels": [[1, 0, 0, 0]]}]
    with pytest.raises(ValueError, match=r"labels\[0\]\['boxes'\].*\[0, 1\]"):
        model.validate_labels(outside, 1)
    with pytest.raises(ValueError, match="list of 2 dicts"):
        model.validate_labels(outside, 2)
    model.validate_labels(random_targets(2, 0), 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):  # the processor refuses such annotations too
        BMViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4, num_action_labels=CLASSES)(
            [np.zeros((4, 32, 32, 3), np.uint8)], annotations=[{"boxes": [[0.1, 0.1, 1.4, 0.5]], "action_ids": [[1]]}])
    inputs = make_inputs(1, 0)
    exported = torch.export.export(model, (), dict(inputs))
    with torch.no_grad():
        expected = model(**inputs)
    actual = exported.module()(**inputs)
    torch.testing.assert_close(actual["pred_boxes"], expected.pred_boxes)


def test_config_return_dict_false_gives_tuples_end_to_end():
    """`config.return_dict=False` makes the outer forward return a tuple; inner modules still hand back outputs."""
    torch.manual_seed(0)
    model = BMViTForActionLocalization(tiny_config(return_dict=False)).eval()
    inputs = make_inputs(1, 0)
    with torch.no_grad():
        as_tuple = model(**inputs)
        as_dict = model(**inputs, return_dict=True)
    assert type(as_tuple) is tuple and torch.equal(as_tuple[1], as_dict.pred_boxes)


def test_hidden_states_on_request():
    model = BMViTForActionLocalization(tiny_config()).eval()
    inputs = make_inputs(1, 0)
    with torch.no_grad():
        assert model(**inputs).hidden_states is None
        hidden = model(**inputs, output_hidden_states=True).hidden_states
    assert len(hidden) == 1 and hidden[0].shape == (1, 2, 4, 4, 32)  # the blocks before the last on the final grid


@pytest.mark.parametrize("pooling, count", [("none", 2 * 4 * 4), ("temporal_mean", 16), ("keyframe", 16),
                                            ("temporal_max", 16)])
def test_output_shapes_follow_the_token_grid(pooling, count):
    config = tiny_config(token_pooling=pooling, box_reference="grid" if pooling == "none" else None)
    assert config.num_predictions == count and config.token_grid == (2, 4, 4)
    model = BMViTForActionLocalization(config).eval()
    with torch.no_grad():
        out = model(**make_inputs(2, 0))
    assert out.logits.shape == (2, count, 2) and out.pred_boxes.shape == (2, count, 4)
    assert out.action_logits.shape == (2, count, CLASSES) and out.last_hidden_state.shape == (2, 2, 4, 4, 32)
    assert ((out.pred_boxes > 0) & (out.pred_boxes < 1)).all()


def test_pooling_definitions():
    grid = torch.randn(2, 3, 2, 2, 5)
    torch.testing.assert_close(pool_tokens(grid, "temporal_mean"), grid.mean(1).flatten(1, 2))
    torch.testing.assert_close(pool_tokens(grid, "keyframe"), grid[:, 1].flatten(1, 2))
    torch.testing.assert_close(pool_tokens(grid, "keyframe", keyframe_index=2), grid[:, 2].flatten(1, 2))
    torch.testing.assert_close(pool_tokens(grid, "temporal_max"), grid.amax(1).flatten(1, 2))
    assert pool_tokens(grid, "none").shape == (2, 12, 5)


def test_no_decoder_and_no_queries():
    model = BMViTForActionLocalization(tiny_config())
    names = [name for name, _ in model.named_modules()]
    assert not any("query" in n or "decoder" in n for n in names), names
    assert not hasattr(model.config, "num_queries")
    backbone = sum(p.numel() for p in model.bmvit.parameters())
    heads = sum(p.numel() for p in model.heads.parameters())
    assert sum(p.numel() for p in model.parameters()) == backbone + heads


# ---------------------------------------------------------------- matching
def _prediction(batch, tokens, seed):
    generator = torch.Generator().manual_seed(seed)
    return {"logits": torch.randn(batch, tokens, 2, generator=generator),
            "pred_boxes": torch.rand(batch, tokens, 4, generator=generator) * 0.5 + 0.25,
            "action_logits": torch.randn(batch, tokens, CLASSES, generator=generator)}


@pytest.mark.parametrize("seed", range(6))
def test_hungarian_assignment_is_optimal(seed):
    rng = np.random.default_rng(seed)
    tokens, people = int(rng.integers(3, 8)), int(rng.integers(1, 4))
    people = min(people, tokens)
    prediction = _prediction(1, tokens, seed)
    target = random_targets(1, seed, people=(people, people))
    matcher = BMViTHungarianMatcher(1.0, 5.0, 2.0, 1.0)
    (rows, cols), = matcher(prediction["logits"], prediction["pred_boxes"], prediction["action_logits"], target)
    cost = matching_cost(prediction["logits"][0], prediction["pred_boxes"][0], prediction["action_logits"][0],
                         target[0]["boxes"], target[0]["action_labels"], 1.0, 5.0, 2.0, 1.0)
    assert len(rows) == people and len(set(rows.tolist())) == people and sorted(cols.tolist()) == list(range(people))
    best = min(sum(cost[p, g] for g, p in enumerate(perm)) for perm in itertools.permutations(range(tokens), people))
    assert cost[rows, cols].sum().item() == pytest.approx(float(best), abs=1e-5)


def test_hand_built_cost_matrix():
    # token 0 sits on person 1, token 2 on person 0: the assignment must cross over
    boxes = torch.tensor([[[0.7, 0.7, 0.2, 0.2], [0.5, 0.5, 0.9, 0.9], [0.2, 0.2, 0.2, 0.2]]])
    target = [{"boxes": torch.tensor([[0.2, 0.2, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]]),
               "action_labels": torch.zeros(2, CLASSES)}]
    (rows, cols), = BMViTHungarianMatcher()(torch.zeros(1, 3, 2), boxes, torch.zeros(1, 3, CLASSES), target)
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 1, 2: 0}


def test_permutations_permute_the_assignment_and_keep_the_loss():
    config = tiny_config()
    model = BMViTForActionLocalization(config)
    prediction = _prediction(2, 8, 0)
    targets = random_targets(2, 1, people=(3, 3))
    loss, _ = model.compute_loss(prediction, targets)
    (rows, cols) = model.matcher(prediction["logits"], prediction["pred_boxes"], prediction["action_logits"],
                                 targets)[0]

    gt_perm = torch.tensor([2, 0, 1])
    permuted_targets = [{k: v[gt_perm] for k, v in t.items()} for t in targets]
    (rows_g, cols_g) = model.matcher(prediction["logits"], prediction["pred_boxes"], prediction["action_logits"],
                                     permuted_targets)[0]
    assert torch.equal(rows_g, rows) and torch.equal(gt_perm[cols_g], cols)
    torch.testing.assert_close(model.compute_loss(prediction, permuted_targets)[0], loss, atol=1e-6, rtol=0)

    token_perm = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    permuted_prediction = {k: v[:, token_perm] for k, v in prediction.items()}
    (rows_p, cols_p) = model.matcher(permuted_prediction["logits"], permuted_prediction["pred_boxes"],
                                     permuted_prediction["action_logits"], targets)[0]
    assert dict(zip(token_perm[rows_p].tolist(), cols_p.tolist())) == dict(zip(rows.tolist(), cols.tolist()))
    torch.testing.assert_close(model.compute_loss(permuted_prediction, targets)[0], loss, atol=1e-6, rtol=0)


def test_perfect_prediction_gives_zero_loss():
    config = tiny_config()
    model = BMViTForActionLocalization(config)
    targets = random_targets(2, 5, people=(2, 3))
    logits = torch.tensor([-20.0, 20.0]).repeat(2, 6, 1)  # every token: no object ...
    boxes = torch.full((2, 6, 4), 0.5)
    actions = torch.zeros(2, 6, CLASSES)
    for b, target in enumerate(targets):
        slots = torch.tensor([4, 1, 3])[: len(target["boxes"])]  # ... except one token per person
        logits[b, slots] = torch.tensor([20.0, -20.0])
        boxes[b, slots] = target["boxes"]
        actions[b, slots] = target["action_labels"] * 40 - 20
    loss, parts = model.compute_loss({"logits": logits, "pred_boxes": boxes, "action_logits": actions}, targets)
    assert parts["loss_bbox"].item() == 0.0
    assert parts["loss_giou"].item() < 1e-5  # float32 rounding of the corner conversion
    assert loss.item() < 1e-3


def test_unmatched_tokens_get_only_the_no_object_loss():
    config = tiny_config()
    model = BMViTForActionLocalization(config)
    prediction = {k: v.requires_grad_() for k, v in _prediction(1, 8, 2).items()}
    targets = random_targets(1, 3, people=(2, 2))
    rows, _ = model.matcher(prediction["logits"], prediction["pred_boxes"], prediction["action_logits"], targets)[0]
    loss, _ = model.compute_loss(prediction, targets)
    loss.backward()
    unmatched = torch.tensor([i for i in range(8) if i not in rows.tolist()])
    assert prediction["pred_boxes"].grad[0, unmatched].abs().max() == 0
    assert prediction["action_logits"].grad[0, unmatched].abs().max() == 0
    assert prediction["logits"].grad[0, unmatched].abs().min() > 0
    assert prediction["pred_boxes"].grad[0, rows].abs().max() > 0
    # a clip without people still gets a finite (no-object) loss
    empty = [{"boxes": torch.zeros(0, 4), "action_labels": torch.zeros(0, CLASSES)}]
    loss, parts = model.compute_loss({k: v.detach() for k, v in prediction.items()}, empty)
    assert torch.isfinite(loss) and parts["loss_actor"] > 0 and parts["loss_bbox"] == 0


def test_focal_and_auxiliary_losses():
    config = tiny_config(use_focal_actor_loss=True, auxiliary_loss=True, num_auxiliary_layers=1)
    model = BMViTForActionLocalization(config)
    inputs = make_inputs(2, 0)
    out = model(**inputs, **make_labels(inputs))
    assert len(out.auxiliary_outputs) == 1 and "loss_giou_aux0" in out.loss_dict and torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="num_auxiliary_layers"):
        BMViTForActionLocalization(tiny_config(auxiliary_loss=True, num_auxiliary_layers=2))


def test_box_conversions_and_giou():
    from torchvision.ops import generalized_box_iou

    boxes = torch.tensor([[0.1, 0.2, 0.4, 0.6], [0.5, 0.5, 0.9, 0.7]])
    torch.testing.assert_close(cxcywh_to_xyxy(xyxy_to_cxcywh(boxes)), boxes)
    giou = generalized_box_iou(boxes, boxes)
    torch.testing.assert_close(giou.diag(), torch.ones(2))
    assert giou[0, 1] < 0  # disjoint boxes


def test_flip_consistency():
    """Mirroring clip and targets (cx -> 1 - cx) keeps the targets valid and the number of matched people."""
    model = BMViTForActionLocalization(tiny_config()).eval()
    inputs = make_inputs(1, 4)
    targets = random_targets(1, 4, people=(3, 3))
    flipped = [{"boxes": t["boxes"] * torch.tensor([-1.0, 1, 1, 1]) + torch.tensor([1.0, 0, 0, 0]),
                "action_labels": t["action_labels"]} for t in targets]
    assert ((cxcywh_to_xyxy(flipped[0]["boxes"]) >= 0) & (cxcywh_to_xyxy(flipped[0]["boxes"]) <= 1)).all()
    with torch.no_grad():
        out = model(**inputs, labels=targets)
        out_flipped = model(inputs["pixel_values"].flip(-1), labels=flipped)
    for o, t in ((out, targets), (out_flipped, flipped)):
        rows, cols = model.matcher(o.logits, o.pred_boxes, o.action_logits, t)[0]
        assert len(rows) == 3


def test_post_processing_scores_and_threshold():
    processor = BMViTVideoProcessor(num_frames=4, num_action_labels=CLASSES)
    prediction = _prediction(1, 6, 1)
    everything = processor.post_process_action_localization(prediction, person_threshold=0.0)[0]
    assert len(everything["scores"]) == 6  # threshold 0 returns all N tokens
    person = prediction["logits"].softmax(-1)[0, :, 0]
    expected = person[:, None] * prediction["action_logits"][0].sigmoid()
    order = person.argsort(descending=True)
    torch.testing.assert_close(everything["action_scores"], expected[order])
    kept = processor.post_process_action_localization(prediction, person_threshold=0.5, top_k=2,
                                                      target_sizes=[(100, 200)])[0]
    assert len(kept["scores"]) == min(2, int((person >= 0.5).sum())) and (kept["scores"] >= 0.5).all()
    if len(kept["boxes"]):
        assert kept["boxes"][:, 2].max() <= 200 and kept["boxes"][:, 3].max() <= 100


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"token_pooling": "spatial"}, "token_pooling"),
        ({"box_reference": "anchors"}, "box_reference"),
        ({"eos_coefficient": 1.5}, "eos_coefficient"),
        ({"bbox_cost": -1.0}, "bbox_cost"),
        ({"keyframe_index": 5}, "keyframe_index"),
        ({"eval_label_ids": [0, 2]}, "eval_label_ids"),
        ({"person_threshold": "high"}, "person_threshold"),
        ({"num_auxiliary_layers": 0}, "num_auxiliary_layers"),
    ],
)
def test_config_validation(overrides, field):
    with pytest.raises(ValueError, match=field):
        tiny_config(**overrides)


def test_config_defaults_are_the_spec_defaults():
    config = BMViTConfig()
    assert config.backbone_config.model_type == "hfvid-mvitv2" and config.token_grid == (8, 7, 7)
    assert (config.num_predictions, config.num_action_labels, len(config.eval_label_ids)) == (49, 80, 60)
    assert (config.class_cost, config.bbox_cost, config.giou_cost) == (1.0, 5.0, 2.0)
    assert BMViTConfig(token_pooling="none").num_predictions == 392


def test_videomae_backbone():
    config = BMViTConfig(num_action_labels=CLASSES, backbone_config={
        "model_type": "videomae", "image_size": 32, "patch_size": 8, "num_frames": 4, "tubelet_size": 2,
        "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64})
    assert config.token_grid == (2, 4, 4)
    model = BMViTForActionLocalization(config)
    inputs = make_inputs(2, 0)
    out = model(**inputs, **make_labels(inputs))
    assert out.pred_boxes.shape == (2, 16, 4) and torch.isfinite(out.loss)


# ---------------------------------------------------------------- CPU learning run on moving actors
def test_learns_moving_actors():
    from hfvid.data.synthetic_actors import synthetic_actor_clips
    from hfvid.metrics.detection import ava_frame_map

    start = time.perf_counter()
    torch.manual_seed(0)
    backbone = dict(TINY_BACKBONE, embed_dim=32, output_channels=[32, 64, 64])
    config = BMViTConfig(num_action_labels=CLASSES, backbone_config=backbone, box_reference="grid")
    processor = BMViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4, frame_stride=1, base_fps=8.0,
                                    num_action_labels=CLASSES)
    train, test = synthetic_actor_clips(512, seed=0), synthetic_actor_clips(64, seed=1)
    data = processor([c["frames"] for c in train],
                     annotations=[{"boxes": c["boxes"], "action_labels": c["action_labels"]} for c in train])
    test_pixels = processor([c["frames"] for c in test])["pixel_values"]
    model = BMViTForActionLocalization(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)

    def frame_map():
        model.eval()
        with torch.no_grad():
            results = processor.post_process_action_localization(model(test_pixels), person_threshold=0.0, top_k=8)
        model.train()
        truth, detections = [], []
        for i, (clip, result) in enumerate(zip(test, results)):
            for box, actions in zip(clip["boxes"], clip["action_labels"]):
                truth += [dict(video_id="v", timestamp=i, box=tuple(box), action_id=int(a) + 1)
                          for a in np.nonzero(actions)[0]]
            detections += processor.to_ava_rows(result, "v", i)
        return ava_frame_map(truth, detections)["mAP"]

    before = frame_map()
    rng = np.random.default_rng(0)
    history = []
    for _ in range(200):
        index = rng.choice(len(train), 16, replace=False)
        out = model(data["pixel_values"][index], labels=[data["labels"][i] for i in index])
        optimizer.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        history.append([out.loss_dict[k].item() for k in ("loss_bbox", "loss_action", "loss_giou")])
    after = frame_map()
    history = np.array(history)
    first, last = history[:20].mean(0), history[-20:].mean(0)
    print(f"learning: L1 {first[0]:.3f} -> {last[0]:.3f}, action BCE {first[1]:.3f} -> {last[1]:.3f}, GIoU loss "
          f"{first[2]:.3f} -> {last[2]:.3f}; frame-mAP {before:.3f} -> {after:.3f}, "
          f"{time.perf_counter() - start:.1f} s")
    assert last[0] < 0.6 * first[0] and last[1] < first[1] and last[2] < first[2]
    assert after > 0.3 and after > before + 0.25


def test_loads_at_another_input_size(tmp_path):
    """A BMViT saved at 4x32x32 loads at 8x32x48: the backbone's relative-position tables are interpolated."""
    torch.manual_seed(0)
    model = BMViTForActionLocalization(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    bigger = dict(TINY_BACKBONE, num_frames=8, image_size=[32, 48])
    loaded, info = BMViTForActionLocalization.from_pretrained(tmp_path, backbone_config=bigger,
                                                              output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    saved = model.state_dict()
    resized = 0
    for key, value in loaded.state_dict().items():
        if key.endswith(("rel_pos_h", "rel_pos_w", "rel_pos_t")) and value.shape != saved[key].shape:
            expected = torch.nn.functional.interpolate(saved[key].t()[None], value.shape[0], mode="linear")[0].t()
            torch.testing.assert_close(value, expected, atol=0, rtol=0)
            resized += 1
        else:
            assert torch.equal(value, saved[key]), key
    assert resized > 0
    with torch.no_grad():
        assert torch.isfinite(loaded(pixel_values=torch.randn(1, 8, 3, 32, 48)).logits).all()
