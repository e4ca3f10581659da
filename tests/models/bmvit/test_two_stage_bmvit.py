"""BMViT's two-stage baseline (`localization="two_stage"`): RoIAlign on given boxes, BCE, save/load, the pipeline."""

import numpy as np
import pytest
import torch
from model_tester import ModelTester
from torchvision.ops import roi_align
from transformers import pipeline

import hfvid  # noqa: F401  (registers the Auto classes and the pipeline task)
from hfvid.data.synthetic_actors import ACTION_NAMES, synthetic_actor_video
from hfvid.models.bmvit import BMViTConfig, BMViTForActionLocalization, BMViTVideoProcessor
from hfvid.models.bmvit.loss_bmvit import cxcywh_to_xyxy, xyxy_to_cxcywh

from test_modeling_bmvit import CLASSES, TINY_BACKBONE  # the BMViT tests' tiny backbone, shared


pytestmark = pytest.mark.usefixtures("one_thread")


def two_stage_config(**overrides) -> BMViTConfig:
    return BMViTConfig(**{"num_action_labels": CLASSES, "backbone_config": dict(TINY_BACKBONE),
                          "localization": "two_stage", **overrides})


def make_inputs(batch_size: int, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(batch_size, 3, 2, generator=generator) * 0.6
    boxes = xyxy_to_cxcywh(torch.cat([corners, corners + 0.1 + 0.3 * torch.rand(batch_size, 3, 2,
                                                                                generator=generator)], dim=-1))
    return {"pixel_values": torch.randn(batch_size, 4, 3, 32, 32, generator=generator), "person_boxes": boxes,
            "person_scores": torch.rand(batch_size, 3, generator=generator)}


def make_labels(inputs: dict) -> dict:
    """Targets for the first 1..3 given boxes of each clip (row j of action_labels is box j's)."""
    generator = torch.Generator().manual_seed(7)
    labels = []
    for i, boxes in enumerate(inputs["person_boxes"]):
        count = 1 + i % 3
        labels.append({"boxes": boxes[:count],
                       "action_labels": (torch.rand(count, CLASSES, generator=generator) > 0.5).float()})
    return {"labels": labels}


def test_common_model_checks(tmp_path):
    bad_inputs = [
        ({"pixel_values": torch.randn(1, 4, 3, 32, 32)}, "person_boxes"),  # no boxes and no labels
        ({"pixel_values": torch.randn(1, 4, 3, 32, 32), "person_boxes": torch.rand(1, 4)}, "person_boxes must"),
        ({"pixel_values": torch.randn(1, 4, 3, 32, 32), "person_boxes": torch.rand(1, 2, 4),
          "person_scores": torch.rand(1, 3)}, "person_scores must"),
        ({"pixel_values": torch.randn(1, 4, 3, 32, 32), "person_boxes": torch.rand(1, 1, 4),
          "labels": [{"boxes": torch.rand(2, 4), "action_labels": torch.ones(2, CLASSES)}]}, "only 1 boxes"),
    ]
    tester = ModelTester(BMViTForActionLocalization, two_stage_config(), make_inputs, make_labels,
                         output_keys=("logits", "pred_boxes", "action_logits"))
    tester.run_all(tmp_path, bad_inputs=bad_inputs, offline=False)


def test_roi_features_loss_and_outputs_by_hand():
    torch.manual_seed(0)
    model = BMViTForActionLocalization(two_stage_config()).eval()
    inputs = make_inputs(2, 3)
    labels = make_labels(inputs)["labels"]
    out = model(**inputs, labels=labels)
    grid = out.last_hidden_state  # (B, T', H', W', D)
    feature_map = grid.mean(1).permute(0, 3, 1, 2)
    h, w = feature_map.shape[-2:]
    rois = [cxcywh_to_xyxy(b) * torch.tensor([w, h, w, h]) for b in inputs["person_boxes"]]
    pooled = roi_align(feature_map, rois, 7, 1.0, 0, True).amax((-2, -1)).reshape(2, 3, -1)
    expected = model.roi_head.action_head(model.roi_head.norm(pooled))
    torch.testing.assert_close(out.action_logits, expected)
    torch.testing.assert_close(out.pred_boxes, inputs["person_boxes"])  # the given boxes, unchanged
    torch.testing.assert_close(out.logits.softmax(-1)[..., 0], inputs["person_scores"], atol=1e-5, rtol=0)
    rows = torch.cat([expected[i, : len(t["action_labels"])] for i, t in enumerate(labels)])
    targets = torch.cat([t["action_labels"] for t in labels])
    torch.testing.assert_close(out.loss, torch.nn.functional.binary_cross_entropy_with_logits(rows, targets))
    assert set(out.loss_dict) == {"loss_action"}
    # without person_boxes the labels' boxes are the RoIs (padding = score 0)
    alone = model(pixel_values=inputs["pixel_values"], labels=labels)
    torch.testing.assert_close(alone.loss, out.loss)
    assert alone.logits.softmax(-1)[0, 1, 0] < 1e-5 and alone.logits.softmax(-1)[1, 1, 0] > 1 - 1e-5


def test_boxes_are_where_the_features_come_from():
    """Moving a box changes only that box's actions (RoIAlign per box, no interaction)."""
    torch.manual_seed(0)
    model = BMViTForActionLocalization(two_stage_config()).eval()
    inputs = make_inputs(1, 5)
    with torch.no_grad():
        before = model(**inputs).action_logits
        moved = dict(inputs, person_boxes=inputs["person_boxes"].clone())
        moved["person_boxes"][0, 1] = torch.tensor([0.8, 0.8, 0.2, 0.2])
        after = model(**moved).action_logits
    torch.testing.assert_close(before[0, [0, 2]], after[0, [0, 2]])
    assert not torch.allclose(before[0, 1], after[0, 1])


def test_config_switch_and_mismatched_inputs():
    assert BMViTConfig(backbone_config=dict(TINY_BACKBONE)).localization == "single_stage"
    with pytest.raises(ValueError, match="localization"):
        two_stage_config(localization="three_stage")
    with pytest.raises(ValueError, match="auxiliary_loss"):
        two_stage_config(auxiliary_loss=True)
    with pytest.raises(ValueError, match="roi_output_size"):
        two_stage_config(roi_output_size=0)
    single = BMViTForActionLocalization(BMViTConfig(num_action_labels=CLASSES, backbone_config=dict(TINY_BACKBONE)))
    with pytest.raises(ValueError, match="two-stage baseline"):
        single(**make_inputs(1, 0))
    two = BMViTForActionLocalization(two_stage_config())
    assert not hasattr(two, "heads") and not hasattr(two, "matcher")  # no box regression, no matching
    # the same backbone parameters: a single-stage checkpoint's backbone loads into the two-stage model
    assert {k for k in single.state_dict() if k.startswith("bmvit.")} == {
        k for k in two.state_dict() if k.startswith("bmvit.")}


def test_processor_person_box_inputs():
    processor = BMViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4, num_action_labels=CLASSES)
    boxes, scores = processor.person_box_inputs([[[0.1, 0.2, 0.5, 0.6]], [[0.0, 0.0, 1.0, 0.5, 0.8], [0.5, 0.5,
                                                                                                  0.7, 0.9, 0.3]], []])
    assert boxes.shape == (3, 2, 4) and scores.shape == (3, 2)
    torch.testing.assert_close(boxes[0, 0], torch.tensor([0.3, 0.4, 0.4, 0.4]))
    torch.testing.assert_close(scores, torch.tensor([[1.0, 0.0], [0.8, 0.3], [0.0, 0.0]]))
    clips = np.zeros((2, 4, 32, 32, 3), np.uint8)
    batch = processor(list(clips), person_boxes=[[[0.1, 0.2, 0.5, 0.6]], [[0.2, 0.2, 0.4, 0.4]]])
    assert batch["person_boxes"].shape == (2, 1, 4)
    with pytest.raises(ValueError, match=r"person_boxes\[0\]"):
        processor.person_box_inputs([[[0.5, 0.2, 0.1, 0.6]]])
    with pytest.raises(ValueError, match=r"person_boxes\[0\]"):
        processor.person_box_inputs([[[0.1, 0.2, 0.5]]])
    with pytest.raises(ValueError, match=r"person_boxes\[1\] must be finite"):
        processor.person_box_inputs([[], [[0.1, 0.2, 0.5, 0.6, float("nan")]]])


def test_pipeline_with_a_two_stage_checkpoint(tmp_path):
    torch.manual_seed(0)
    config = two_stage_config(id2label=dict(enumerate(ACTION_NAMES)))
    BMViTForActionLocalization(config).save_pretrained(tmp_path)
    BMViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4, frame_stride=2, base_fps=8.0,
                        num_action_labels=CLASSES).save_pretrained(tmp_path)
    pipe = pipeline("hfvid-video-action-localization", model=str(tmp_path))
    frames = synthetic_actor_video(24, image_size=40)["frames"]
    boxes = [[[0.1, 0.1, 0.5, 0.6, 0.9], [0.5, 0.5, 0.9, 0.9, 0.6]], [[0.2, 0.3, 0.4, 0.5]]]
    results = pipe(frames, fps=8.0, keyframe_timestamps=[2.0, 1.0], person_boxes=boxes, person_threshold=0.5,
                   batch_size=2, top_k_actions=2)
    assert [r["timestamp"] for r in results] == [1.0, 2.0]
    one, two = results[0]["detections"], results[1]["detections"]
    assert len(one) == 1 and len(two) == 2  # the padding of the batch (score 0) is dropped
    assert one[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert [d["score"] for d in two] == pytest.approx([0.9, 0.6], abs=1e-5)
    assert two[0]["box"] == pytest.approx({"xmin": 4.0, "ymin": 4.0, "xmax": 20.0, "ymax": 24.0}, abs=1e-4)
    assert len(two[0]["labels"]) == 2 and two[0]["labels"][0]["label"] in ACTION_NAMES
    with pytest.raises(ValueError, match="person_boxes"):
        pipe(frames, fps=8.0, keyframe_timestamps=[1.0])
    with pytest.raises(ValueError, match=r"person_boxes of keyframe 1.0: .*finite"):
        pipe(frames, fps=8.0, keyframe_timestamps=[1.0], person_boxes=[[[0.1, float("nan"), 0.5, 0.6]]])
    single_dir = tmp_path / "single"
    BMViTForActionLocalization(BMViTConfig(num_action_labels=CLASSES, backbone_config=dict(TINY_BACKBONE))
                               ).save_pretrained(single_dir)
    BMViTVideoProcessor(size={"height": 32, "width": 32}, num_frames=4, num_action_labels=CLASSES
                        ).save_pretrained(single_dir)
    with pytest.raises(ValueError, match="single-stage checkpoint"):
        pipeline("hfvid-video-action-localization", model=str(single_dir))(
            frames, fps=8.0, keyframe_timestamps=[1.0], person_boxes=boxes[:1])


def test_model_card_says_which_localization():
    from hfvid.hub import render_model_card

    two = str(render_model_card(two_stage_config(), {"frame_mAP": 0.5}))
    single = str(render_model_card(BMViTConfig(num_action_labels=CLASSES, backbone_config=dict(TINY_BACKBONE)),
                                   {"frame_mAP": 0.5}))
    assert "**given boxes**" in two and "read_ava_person_boxes" in two
    assert "**none** (single stage)" in single and "read_ava_person_boxes" not in single
