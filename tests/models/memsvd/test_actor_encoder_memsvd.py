"""MeMSVD's short-term sub-model (MViTv2 + RoIAlign actor encoder): save/load, equality, gradients, pipeline."""

import numpy as np
import pytest
import torch

import hfvid  # noqa: F401  (registers the Auto classes and the task)
from hfvid.models.memsvd import MeMSVDConfig, MeMSVDForActionDetection, VideoBackboneActorEncoder
from hfvid.models.mvitv2 import MViTv2Backbone, MViTv2Config, MViTv2VideoProcessor
from hfvid.quickstart.mvitv2 import TINY_MVITV2
from hfvid.training import parse_config_overrides

WIDTH = 32  # channels of the tiny MViTv2's last stage


def tiny_config(encoder_overrides=None, **kwargs):
    encoder = {**parse_config_overrides(TINY_MVITV2), **(encoder_overrides or {})}
    return MeMSVDConfig(feature_dim=WIDTH, num_components=2, max_rank=4, latent_dim=8, num_labels=3,
                        actor_encoder_config=encoder, actor_roi_size=2, **kwargs)


def inputs(seed=0):
    generator = torch.Generator().manual_seed(seed)
    pixel_values = torch.randn(2, 4, 3, 32, 32, generator=generator)
    boxes = torch.tensor([[0, 0, 0, 32, 32], [0, 4, 2, 20, 30], [1, 8, 8, 24, 24]], dtype=torch.float32)
    memory = torch.randn(2, 10, WIDTH, generator=generator)
    return {"pixel_values": pixel_values, "boxes": boxes, "memory_features": memory}


def test_config_checks_and_no_encoder_by_default():
    assert MeMSVDForActionDetection(MeMSVDConfig(feature_dim=8, latent_dim=4, num_components=2,
                                                 max_rank=4)).memsvd.actor_encoder is None
    with pytest.raises(ValueError, match="actor_encoder_config.*32 channels.*feature_dim is 16"):
        MeMSVDConfig(feature_dim=16, actor_encoder_config=parse_config_overrides(TINY_MVITV2))
    model = MeMSVDForActionDetection(MeMSVDConfig(feature_dim=8, latent_dim=4, num_components=2, max_rank=4))
    with pytest.raises(ValueError, match="no actor encoder"):
        model(**{**inputs(), "memory_features": torch.randn(2, 10, 8)})
    with pytest.raises(ValueError, match=r"boxes must have shape \(K, 5\).*got \(3, 4\)"):
        MeMSVDForActionDetection(tiny_config())(**{**inputs(), "boxes": inputs()["boxes"][:, 1:]})
    with pytest.raises(ValueError, match=r"boxes must have shape \(K, 5\).*got \(5,\)"):
        MeMSVDForActionDetection(tiny_config())(**{**inputs(), "boxes": torch.zeros(5)})


def test_round_trip_and_equal_to_the_precomputed_path(tmp_path):
    torch.manual_seed(0)
    model = MeMSVDForActionDetection(tiny_config()).eval()
    batch = inputs()
    with torch.no_grad():
        logits = model(**batch).logits
        features = model.memsvd.actor_encoder(batch["pixel_values"], batch["boxes"])
        precomputed = model(actor_features=features, actor_batch_index=torch.tensor([0, 0, 1]),
                            memory_features=batch["memory_features"]).logits
    torch.testing.assert_close(logits, precomputed)
    model.save_pretrained(tmp_path)
    reloaded = MeMSVDForActionDetection.from_pretrained(tmp_path).eval()
    assert reloaded.config.actor_encoder_config.model_type == "hfvid-mvitv2"
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, logits)


def test_equal_to_the_frame_level_encoder_of_the_same_backbone_weights(tmp_path):
    torch.manual_seed(1)
    backbone = MViTv2Backbone(MViTv2Config(**parse_config_overrides(TINY_MVITV2)))
    backbone.save_pretrained(tmp_path / "backbone")
    MViTv2VideoProcessor(crop_size={"height": 32, "width": 32}, num_frames=4).save_pretrained(tmp_path / "backbone")
    standalone = VideoBackboneActorEncoder.from_pretrained(tmp_path / "backbone", output_size=2)
    model = MeMSVDForActionDetection(tiny_config()).eval()
    model.memsvd.actor_encoder.backbone.load_state_dict(backbone.state_dict())
    own = VideoBackboneActorEncoder.from_model(model, standalone.video_processor)
    frames = list(np.random.default_rng(0).integers(0, 255, (6, 48, 64, 3), dtype=np.uint8))
    boxes = np.array([[0, 0, 64, 48], [8, 4, 40, 30]], np.float32)
    torch.testing.assert_close(own(frames, boxes), standalone(frames, boxes))


def test_gradients_flow_end_to_end_and_the_backbone_can_be_frozen():
    torch.manual_seed(0)
    model = MeMSVDForActionDetection(tiny_config(memory_dropout=0.0, classifier_dropout=0.0)).train()
    loss = model(**inputs(), labels=torch.ones(3, 3)).loss
    loss.backward()
    embed = model.memsvd.actor_encoder.backbone.mvitv2.conv_proj.weight
    assert embed.grad is not None and embed.grad.abs().sum() > 0
    assert model.classifier.weight.grad.abs().sum() > 0
    model.zero_grad()
    model.memsvd.actor_encoder.requires_grad_(False)  # the paper's stage 3: frozen short-term model
    model(**inputs(), labels=torch.ones(3, 3)).loss.backward()
    assert embed.grad is None and model.classifier.weight.grad.abs().sum() > 0


def test_pipeline_uses_the_models_own_encoder(tmp_path):
    from transformers import pipeline

    from hfvid.data.video import write_video

    torch.manual_seed(0)
    model = MeMSVDForActionDetection(tiny_config()).eval()
    model.save_pretrained(tmp_path / "memsvd")
    frames = list(np.random.default_rng(2).integers(0, 255, (30, 48, 64, 3), dtype=np.uint8))
    video = write_video(tmp_path / "vid.mp4", frames, fps=10)
    pipe = pipeline("hfvid-long-term-action-detection", model=str(tmp_path / "memsvd"), device="cpu")
    boxes = {0: [[0, 0, 32, 24]], 1: [[10, 10, 60, 40]]}
    own = pipe(str(video), boxes=boxes, top_k=3)
    explicit = pipe(str(video), boxes=boxes, top_k=3, actor_encoder=VideoBackboneActorEncoder.from_model(pipe.model))
    assert own == explicit and [len(r["detections"]) for r in own] == [1, 1]


def test_gradient_checkpointing_of_the_encoder_gives_equal_gradients():
    torch.manual_seed(0)
    model = MeMSVDForActionDetection(tiny_config({"stochastic_depth_prob": 0.0}, memory_dropout=0.0,
                                                 classifier_dropout=0.0)).train()  # deterministic in train mode
    assert model.supports_gradient_checkpointing
    embed = model.memsvd.actor_encoder.backbone.mvitv2.conv_proj.weight
    model(**inputs(), labels=torch.ones(3, 3)).loss.backward()
    plain, embed.grad = embed.grad.clone(), None
    model.gradient_checkpointing_enable()
    model(**inputs(), labels=torch.ones(3, 3)).loss.backward()
    torch.testing.assert_close(embed.grad, plain)
