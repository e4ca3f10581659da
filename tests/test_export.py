"""ONNX export: each image model's graph, run with onnxruntime at another batch size, matches PyTorch.

Tolerance: max |ONNX - PyTorch| <= 1e-4 on every output (landmarks in crop pixels, heatmaps, embeddings, images in
[-1, 1]); measured differences are ~1e-6 (float32 reordering only).
"""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
onnxruntime = pytest.importorskip("onnxruntime")

from hfvid import (  # noqa: E402
    FaceRepresentationConfig,
    FaceRepresentationImageProcessor,
    FaceRepresentationModel,
    GANnotationConfig,
    GANnotationGenerator,
    KeypointsToLandmarksConfig,
    KeypointsToLandmarksForLandmarkDetection,
    SubpixelFANConfig,
    SubpixelFANForFacialLandmarkDetection,
)
from hfvid.export import NOT_EXPORTABLE, export_onnx  # noqa: E402

ATOL = 1e-4


def _run(path, inputs: dict) -> dict:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {name: value.numpy() for name, value in inputs.items()})
    return {item.name: value for item, value in zip(session.get_outputs(), outputs)}


def _close(actual, expected):
    difference = np.abs(actual - expected.detach().numpy()).max()
    assert difference <= ATOL, difference


def test_subpixel_fan_onnx_matches_pytorch_from_a_saved_folder(tmp_path):
    torch.manual_seed(0)
    config = SubpixelFANConfig(num_stacks=1, hidden_size=32, hourglass_depth=2, image_size=64, heatmap_size=16,
                               num_landmarks=68)
    model = SubpixelFANForFacialLandmarkDetection(config).eval()
    model.save_pretrained(tmp_path / "model")
    path = export_onnx(tmp_path / "model", "subpixel_fan", tmp_path / "onnx")
    assert (tmp_path / "onnx" / "config.json").is_file()
    assert json.loads((tmp_path / "onnx" / "onnx_check.json").read_text())["opset"] == 18
    pixels = torch.rand(5, 3, 64, 64)  # batch 5: the batch axis is dynamic (exported with 2)
    outputs = _run(path, {"pixel_values": pixels})
    with torch.no_grad():
        expected = model(pixels)
    for name in ("landmarks", "scores", "heatmaps"):
        _close(outputs[name], getattr(expected, name))
    assert outputs["landmarks"].shape == (5, 68, 2)


def test_keypoints_to_landmarks_onnx_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    config = KeypointsToLandmarksConfig(num_landmarks=5, num_clusters=10, hidden_size=32, hourglass_depth=2,
                                        image_size=64, heatmap_size=16, descriptor_dim=16)
    model = KeypointsToLandmarksForLandmarkDetection(config).eval()
    path = export_onnx(model, "keypoints_to_landmarks", tmp_path)
    pixels = torch.rand(3, 3, 64, 64)
    outputs = _run(path, {"pixel_values": pixels})
    with torch.no_grad():
        expected = model(pixels)
    _close(outputs["landmarks"], expected.landmarks)
    _close(outputs["heatmaps"], expected.heatmaps)


def test_cli_exports_face_embedding_matching_pytorch_and_keeps_the_processor(tmp_path):
    torch.manual_seed(0)
    config = FaceRepresentationConfig(embedding_size=4, hidden_sizes=[4, 8, 8, 16], depths=[1, 1, 1, 1],
                                      layer_type="basic", image_size=32)
    model = FaceRepresentationModel(config).eval()
    model.save_pretrained(tmp_path / "model")
    FaceRepresentationImageProcessor(image_size=32).save_pretrained(tmp_path / "model")
    from hfvid.cli import main  # through the console script: hfvid export --method ... --model ... --output ...

    assert main(["export", "--method", "face_pretraining", "--model", str(tmp_path / "model"), "--format", "onnx",
                 "--output", str(tmp_path / "onnx")]) == 0
    path = tmp_path / "onnx" / "model.onnx"
    assert (tmp_path / "onnx" / "preprocessor_config.json").is_file()
    pixels = torch.rand(3, 3, 32, 32)
    outputs = _run(path, {"pixel_values": pixels})
    with torch.no_grad():
        expected = model(pixel_values=pixels)
    _close(outputs["embedding"], expected.pooler_output)


def test_gannotation_generator_onnx_renders_targets_in_graph(tmp_path):
    torch.manual_seed(0)
    config = GANnotationConfig(num_landmarks=5, base_channels=8, num_res_blocks=1, image_size=32, critic_num_layers=3)
    model = GANnotationGenerator(config).eval()
    path = export_onnx(model, "gannotation", tmp_path)
    pixels, points = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 5, 2) * 31
    outputs = _run(path, {"pixel_values": pixels, "target_landmarks": points})
    with torch.no_grad():
        expected = model(pixel_values=pixels, target_landmarks=points)
    _close(outputs["sample"], expected.sample)
    _close(outputs["mask"], expected.mask)


def test_export_rejects_video_models_and_unknown_methods_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="autoregressive"):
        export_onnx(tmp_path, "rest", tmp_path / "out")
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        export_onnx(tmp_path, "nope", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="config.json"):
        export_onnx(tmp_path, "subpixel_fan", tmp_path / "out")
    assert set(NOT_EXPORTABLE) == {"rest", "bayesian_prompt", "memsvd", "affective_process", "contrastive_au",
                                   "bmvit", "mvitv2"}
