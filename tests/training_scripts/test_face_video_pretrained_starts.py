"""Face-video scripts with a pretrained start (--backbone_init; Contrastive AU also --backbone_lr_scale) and
Contrastive AU stage 1 on face-cropped, streamed clips (--face_crop with given boxes) of a real video file."""

import json

import numpy as np
import pytest
import torch
from transformers import ResNetConfig, ResNetModel

from hfvid.data.video import write_video
from hfvid.quickstart import load_training_script

TINY = {"embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1], "layer_type": "basic"}
OVERRIDES = json.dumps({"backbone_config": TINY, "image_size": 32, "temporal_hidden_size": 16, "embedding_dim": 8,
                        "projection_hidden_size": 16, "num_observed_steps": 3, "num_predicted_steps": 2})


def test_pretrain_with_face_crops_and_a_pretrained_backbone(tmp_path):
    from hfvid.models.contrastive_au import ContrastiveAUForPreTraining

    videos = tmp_path / "videos"
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 60, (48, 64, 3), dtype=np.uint8) for _ in range(20)]
    for image in frames:
        image[8:40, 16:48] = 200
    write_video(videos / "clip01.avi", frames, fps=10, codec="mjpeg", pix_fmt="yuvj420p")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"clip01": [16, 8, 48, 40]}))
    torch.manual_seed(7)
    source = ResNetModel(ResNetConfig(**TINY))
    source.save_pretrained(tmp_path / "resnet")

    pretrain = load_training_script("pretrain_contrastive_au")
    argv = ["--train_dir", str(videos), "--cpu", "--output_dir", str(tmp_path / "out"), "--max_train_steps", "1",
            "--per_device_train_batch_size", "2", "--clips_per_video", "2", "--config_overrides", OVERRIDES,
            "--face_crop", "--face_boxes", str(boxes), "--backbone_init", str(tmp_path / "resnet"),
            "--backbone_lr_scale", "0.1"]
    result = pretrain.main(pretrain.parse_args(argv))
    assert result["history"]["global_step"] == 1
    model = ContrastiveAUForPreTraining.from_pretrained(tmp_path / "out")
    assert model.config.backbone_init == str(tmp_path / "resnet")
    weight = model.contrastive_au.frame_encoder.backbone.embedder.embedder.convolution.weight
    start = source.embedder.embedder.convolution.weight
    assert (weight - start).abs().max() < 0.01  # one step at lr 1e-4 x 0.1 from the pretrained weights

    with pytest.raises(ValueError, match="--face_boxes is used by --face_crop"):
        pretrain.parse_args([a for a in argv if a != "--face_crop"])


def test_backbone_init_needs_a_fresh_model():
    train = load_training_script("train_contrastive_au")
    with pytest.raises(ValueError, match="--backbone_init 'torchvision:resnet18' starts a fresh model"):
        train.parse_args(["--dataset_name", "synthetic", "--output_dir", "/tmp/x", "--init", "out/cau_pre",
                          "--backbone_init", "torchvision:resnet18"])


def test_affective_process_backbone_init(tmp_path):
    ap = load_training_script("train_affective_process")
    torch.manual_seed(9)
    tiny = ap.TINY_BACKBONE
    source = ResNetModel(ResNetConfig(**tiny))
    source.save_pretrained(tmp_path / "resnet")
    args = ap.parse_args(["--dataset_name", "synthetic", "--output_dir", str(tmp_path / "out"), "--cpu",
                          "--backbone_init", str(tmp_path / "resnet")])
    model, _ = ap.build_model(args)
    loaded = model.affective_process.frame_encoder.backbone.state_dict()
    assert all(torch.equal(tensor, source.state_dict()[key]) for key, tensor in loaded.items())
    args.backbone_init = "torchvision:vgg16"
    with pytest.raises(ValueError, match="after 'torchvision:' give one of"):
        ap.build_model(args)
