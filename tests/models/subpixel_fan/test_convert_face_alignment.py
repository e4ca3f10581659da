"""face-alignment FAN -> hfvid conversion, checked against the real (randomly initialised) reference network."""

import json

import numpy as np
import pytest
import torch

import hfvid  # noqa: F401  (registers the Auto classes)
from transformers import AutoImageProcessor, AutoModelForPoseEstimation

from hfvid.models.subpixel_fan.convert_face_alignment_to_hfvid import (
    PREFIX,
    convert,
    convert_face_alignment_state_dict,
    main,
    random_face_alignment_fan,
)

fan_module = pytest.importorskip("face_alignment.models.fan")


def random_reference(num_modules: int, seed: int = 0) -> torch.nn.Module:
    return random_face_alignment_fan(num_modules, seed)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A 2-stack reference saved as a .pth.tar, converted and reloaded with AutoModelForPoseEstimation."""
    tmp = tmp_path_factory.mktemp("fa")
    reference = random_reference(2)
    checkpoint = tmp / "2DFAN-2.pth.tar"
    torch.save(reference.state_dict(), checkpoint)
    output_dir = tmp / "converted"
    convert(checkpoint, output_dir)
    model = AutoModelForPoseEstimation.from_pretrained(output_dir).eval()
    return reference, model, output_dir


def test_strict_key_match_and_saved_files(converted):
    reference, model, output_dir = converted
    ours, theirs = model.state_dict(), reference.state_dict()
    assert all(key.startswith(PREFIX) for key in ours)
    assert {key.removeprefix(PREFIX) for key in ours} == set(theirs)
    for key, value in theirs.items():
        torch.testing.assert_close(ours[PREFIX + key], value, rtol=0, atol=0)
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= {
        p.name for p in output_dir.iterdir()
    }
    config = json.loads((output_dir / "config.json").read_text())
    assert config["converted_from"] == "face-alignment 2DFAN-4"
    assert (config["num_stacks"], config["num_landmarks"], config["hidden_size"]) == (2, 68, 256)
    assert (config["hourglass_depth"], config["norm_type"]) == (4, "batch")
    assert config["decode_method"] == "local_soft_argmax"  # SH-FAN default kept; parity needs a config override
    card = (output_dir / "README.md").read_text()
    assert "FAN, not SH-FAN" in card and "license: other" in card
    processor = AutoImageProcessor.from_pretrained(output_dir)
    assert (processor.crop_size, processor.reference_scale, processor.do_normalize) == (256, 195.0, False)


def test_identical_heatmaps_per_stack(converted):
    reference, model, _ = converted
    pixel_values = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(pixel_values)
        default = model(pixel_values)  # inference path: in place, folded BatchNorms, channels-last
        ours = model(pixel_values, output_all_heatmaps=True).all_heatmaps
    assert default.all_heatmaps is None  # inference returns the last stack only unless asked
    torch.testing.assert_close(default.heatmaps, expected[-1], rtol=0, atol=1e-5)
    plain = model(pixel_values, output_all_heatmaps=True).all_heatmaps  # autograd on: the plain functional path
    assert len(ours) == len(expected) == len(plain) == 2
    for a, b, c in zip(ours, expected, plain):
        assert a.shape == (1, 68, 64, 64)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        torch.testing.assert_close(c.detach(), b, rtol=0, atol=1e-5)


def test_quarter_shift_decoding_matches_face_alignment(converted, monkeypatch):
    """decode_method="argmax_quarter_shift" + the processor's inverse crop = face-alignment before its int cast."""
    from face_alignment import utils

    # numba-jitted in face-alignment; the plain Python originals avoid seconds of JIT compilation.
    get_preds = getattr(utils._get_preds_fromhm, "py_func", utils._get_preds_fromhm)
    transform_np = getattr(utils.transform_np, "py_func", utils.transform_np)

    _, model, output_dir = converted
    monkeypatch.setattr(model.config, "decode_method", "argmax_quarter_shift")
    processor = AutoImageProcessor.from_pretrained(output_dir)
    box = [31.0, 47.5, 190.25, 233.0]
    heatmaps = torch.rand(1, 68, 64, 64, generator=torch.Generator().manual_seed(2))
    landmarks, scores = model.decode(heatmaps)
    matrices = processor.crop_matrices(torch.tensor([box]))
    ours = processor.post_process_facial_landmarks({"landmarks": landmarks, "scores": scores}, matrices)[0][0]

    x1, y1, x2, y2 = box
    center = np.array([(x1 + x2) / 2, (y1 + y2) / 2 - 0.12 * (y2 - y1)])
    scale = (x2 - x1 + y2 - y1) / 195.0
    hm = heatmaps.numpy()
    index = hm.reshape(1, 68, -1).argmax(-1)
    preds, _ = get_preds(hm, index.copy(), None, None)  # heatmap coordinates (1-based, -0.5)
    side = 200.0 * scale  # face-alignment's transform_np(invert=True) without the int32 cast
    exact = (preds[0] - 32.0) * side / 64.0 + center
    np.testing.assert_allclose(ours["landmarks"].numpy(), exact, atol=1e-3)
    published = np.stack([transform_np(p, center, scale, 64, True) for p in preds[0]])  # int32-cast
    assert np.abs(ours["landmarks"].numpy() - published).max() < 1.0
    np.testing.assert_allclose(ours["scores"].numpy(), np.take_along_axis(hm[0].reshape(68, -1), index.T, 1)[:, 0])


def test_four_stack_key_set_converts():
    """The real 2DFAN-4 layout (4 stacks) converts to a config and key set that match our model (not run)."""
    with torch.device("meta"):  # shapes only: no 24M-parameter initialisation
        reference = fan_module.FAN(num_modules=4)
    state_dict = {"module." + k: v for k, v in reference.state_dict().items()}  # DataParallel-style prefix
    config, converted = convert_face_alignment_state_dict({"state_dict": state_dict})
    assert (config.num_stacks, config.hourglass_depth, config.num_landmarks) == (4, 4, 68)
    assert config.landmark_scheme == "ibug68" and config.flip_permutation is not None
    with torch.device("meta"):
        expected = AutoModelForPoseEstimation.from_config(config).state_dict()
    assert set(converted) == set(expected)
    assert all(value.shape == expected[key].shape for key, value in converted.items())


def test_wrong_num_stacks_is_rejected():
    with pytest.raises(ValueError, match="num_stacks=3"):
        convert_face_alignment_state_dict(fan_module.FAN(num_modules=1).state_dict(), num_stacks=3)


@pytest.mark.parametrize("corruption", ["missing", "extra"])
def test_corrupted_state_dict_names_the_keys(tmp_path, corruption):
    state_dict = fan_module.FAN(num_modules=1).state_dict()
    if corruption == "missing":
        del state_dict["top_m_0.conv2.weight"]
        key = "top_m_0.conv2.weight"
    else:
        state_dict["extra_head.weight"] = torch.zeros(3)
        key = "extra_head.weight"
    checkpoint = tmp_path / "bad.pth.tar"
    torch.save(state_dict, checkpoint)
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        convert(checkpoint, tmp_path / "out")
    assert not (tmp_path / "out" / "model.safetensors").exists()


@pytest.mark.filterwarnings("ignore")  # torch.jit deprecation and torch.load's TorchScript notice
def test_torchscript_archive_is_refused_clearly(tmp_path):
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 4, 1)), tmp_path / "2DFAN4.zip")
    with pytest.raises(ValueError, match="TorchScript"):
        convert(tmp_path / "2DFAN4.zip", tmp_path / "out")


def test_cli_main_old_checkpoint_without_batch_counters(tmp_path):
    """Old checkpoints lack BatchNorm ``num_batches_tracked``; the argparse entry point still converts them."""
    state_dict = {k: v for k, v in fan_module.FAN(num_modules=1).state_dict().items()
                  if not k.endswith("num_batches_tracked")}
    torch.save(state_dict, tmp_path / "old.pth.tar")
    main(["--checkpoint_path", str(tmp_path / "old.pth.tar"), "--output_dir", str(tmp_path / "out"),
          "--decode_method", "argmax_quarter_shift"])
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["num_stacks"] == 1 and config["decode_method"] == "argmax_quarter_shift"
    # the `hfvid convert face-alignment` console command reaches the same converter
    from hfvid.cli import main as hfvid_main

    assert hfvid_main(["convert", "face-alignment", "--checkpoint_path", str(tmp_path / "old.pth.tar"),
                       "--output_dir", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "model.safetensors").is_file()
