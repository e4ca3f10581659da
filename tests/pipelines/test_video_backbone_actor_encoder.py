"""VideoBackboneActorEncoder: MeMSVD actor features from an hfvid MViTv2 checkpoint (pipeline and bank extraction)."""

import numpy as np
import pytest
import torch

import hfvid  # noqa: F401  (registers the Auto classes and the task)
from hfvid.data.video import write_video
from hfvid.models.mvitv2 import MViTv2Backbone, MViTv2Config, MViTv2VideoProcessor
from hfvid.quickstart.mvitv2 import TINY_MVITV2
from hfvid.models.memsvd import VideoBackboneActorEncoder
from hfvid.training import parse_config_overrides

WIDTH = 32  # channels of the tiny backbone's last stage


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("mvitv2")
    MViTv2Backbone(MViTv2Config(**parse_config_overrides(TINY_MVITV2))).save_pretrained(path)
    MViTv2VideoProcessor(crop_size={"height": 32, "width": 32}, num_frames=4).save_pretrained(path)
    return path


def clip(num_frames=6, height=48, width=64, seed=0):
    return list(np.random.default_rng(seed).integers(0, 255, (num_frames, height, width, 3), dtype=np.uint8))


def test_features_are_roi_aligned_on_the_time_averaged_last_feature_map(backbone_dir):
    from torchvision.ops import roi_align

    encoder = VideoBackboneActorEncoder.from_pretrained(backbone_dir, output_size=2)
    frames = clip()
    boxes = np.array([[0, 0, 64, 48], [8, 4, 40, 30]], np.float32)
    features = encoder(frames, boxes)
    assert features.shape == (2, WIDTH)

    # by hand: frames 0, 2, 3, 5 (evenly over 6), resized to 32x32 without crop, boxes scaled to the 4x4 grid
    sampled = np.stack(frames)[[0, 2, 3, 5]]
    pixels = encoder.video_processor([sampled], size={"height": 32, "width": 32}, do_center_crop=False,
                                     do_sample_frames=False, return_tensors="pt")["pixel_values"]
    backbone = MViTv2Backbone.from_pretrained(backbone_dir).eval()  # the pre-move pipeline encoder's computation
    with torch.no_grad():
        grid = backbone(pixels).feature_maps[-1][0].mean(1)
    scaled = torch.from_numpy(boxes) * torch.tensor([4 / 64, 4 / 48, 4 / 64, 4 / 48])
    expected = roi_align(grid[None], [scaled], 2, 1.0, sampling_ratio=-1, aligned=True).mean(dim=(2, 3))
    torch.testing.assert_close(features, expected)


def test_bad_frames_are_a_clear_error(backbone_dir):
    encoder = VideoBackboneActorEncoder.from_pretrained(backbone_dir)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        encoder([np.zeros((8, 8), np.float32)] * 4, np.zeros((1, 4)))


def test_long_term_pipeline_and_feature_bank_with_the_backbone(backbone_dir, tmp_path):
    from transformers import pipeline

    from hfvid.models.memsvd import MeMSVDConfig, MeMSVDForActionDetection
    from hfvid.quickstart import load_training_script

    config = MeMSVDConfig(feature_dim=WIDTH, num_components=2, max_rank=4, latent_dim=8, num_labels=3)
    MeMSVDForActionDetection(config).eval().save_pretrained(tmp_path / "memsvd")
    video = write_video(tmp_path / "videos" / "vid.mp4", clip(30, seed=1), fps=10)
    pipe = pipeline("hfvid-long-term-action-detection", model=str(tmp_path / "memsvd"), device="cpu")
    encoder = VideoBackboneActorEncoder.from_pretrained(backbone_dir)
    results = pipe(str(video), boxes={0: [[0, 0, 32, 24]], 1: [[10, 10, 60, 40]], 2: [[0, 0, 64, 48]]},
                   actor_encoder=encoder, top_k=2)
    assert [r["timestamp"] for r in results] == [0.0, 1.0, 2.0]
    assert all(len(r["detections"]) == 1 and len(r["detections"][0]["labels"]) == 2 for r in results)

    (tmp_path / "boxes.csv").write_text("vid,0901,0.0,0.0,0.5,0.5,1,0\nvid,0902,0.1,0.2,0.9,0.9,1,0\n")
    script = load_training_script("extract_feature_bank")
    out = script.main(script.parse_args(["--video_dir", str(tmp_path / "videos"), "--boxes", str(tmp_path / "boxes.csv"),
                                         "--output_dir", str(tmp_path / "bank"), "--time_offset", "900",
                                         "--backbone", str(backbone_dir)]))
    import datasets

    bank = datasets.load_from_disk(out["bank"])
    assert len(bank) == 2 and np.array(bank[0]["features"]).shape == (1, WIDTH)
    with pytest.raises(ValueError, match="not both"):
        script.parse_args(["--video_dir", "v", "--boxes", "b", "--output_dir", "o", "--backbone", "x",
                           "--actor_encoder", "m:f"])
