"""GANnotationPipeline (diffusers): outputs for one target and a trajectory, chaining order, output types,
save/load round trip (also in a fresh offline process), bad inputs, and that `import hfvid` skips diffusers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hfvid import GANnotationConfig, GANnotationDiscriminator, GANnotationGenerator, GANnotationPipeline

SIZE = 32
ROOT = Path(__file__).resolve().parents[3]


pytestmark = pytest.mark.usefixtures("one_thread")


def make_pipe(with_critic: bool = False, **overrides) -> GANnotationPipeline:
    config = GANnotationConfig(**(dict(num_landmarks=66, base_channels=8, num_res_blocks=1, image_size=SIZE,
                                       critic_num_layers=3, critic_base_channels=8) | overrides))
    torch.manual_seed(0)
    pipe = GANnotationPipeline(synthesizer=GANnotationGenerator(config).eval(),
                               critic=GANnotationDiscriminator(config).eval() if with_critic else None)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def face_and_trajectory(frames: int = 5):
    from hfvid.data.synthetic_pairs import synthetic_face_video

    video = synthetic_face_video(0, frames + 1, image_size=64)
    return video["images"][0], video["landmarks"][0], video["landmarks"][1:]  # 68-point shapes


def test_one_target_and_sequence_counts_sizes_ranges():
    pipe = make_pipe()
    image, source_points, trajectory = face_and_trajectory(5)
    one = pipe(image, trajectory[0], source_landmarks=source_points)
    assert len(one.images) == 1 and one.images[0].size == (SIZE, SIZE) and one.landmarks.shape == (1, 66, 2)
    many = pipe(image, trajectory, source_landmarks=source_points, batch_size=2, output_type="np", return_masks=True)
    assert many.images.shape == (5, SIZE, SIZE, 3) and many.images.min() >= 0 and many.images.max() <= 1
    assert many.masks.shape == (5, 1, SIZE, SIZE) and many.landmarks.shape == (5, 66, 2)
    assert many.landmarks.min() >= 0 and many.landmarks.max() <= SIZE  # normalised into the output crop
    as_list = pipe(image, list(torch.from_numpy(trajectory)), source_landmarks=source_points, output_type="np")
    np.testing.assert_allclose(as_list.images, many.images, atol=1e-6)


def test_output_types_are_consistent():
    pipe = make_pipe()
    image, source_points, trajectory = face_and_trajectory(3)
    pt = pipe(image, trajectory, source_landmarks=source_points, output_type="pt").images
    arr = pipe(image, trajectory, source_landmarks=source_points, output_type="np").images
    pil = pipe(image, trajectory, source_landmarks=source_points, output_type="pil").images
    assert pt.shape == (3, 3, SIZE, SIZE)
    np.testing.assert_allclose(pt.permute(0, 2, 3, 1).numpy(), arr, atol=1e-6)
    np.testing.assert_allclose(np.stack([np.asarray(p) for p in pil]) / 255.0, arr, atol=1 / 255 + 1e-6)
    images, landmarks, masks = pipe(image, trajectory, source_landmarks=source_points, return_dict=False)
    assert len(images) == 3 and masks is None and landmarks.shape == (3, 66, 2)


def test_progressive_chaining_order_with_a_stub_generator():
    pipe = make_pipe()
    pipe.synthesizer.forward = lambda pixel_values, landmark_maps=None, **kw: type(
        "Out", (), {"sample": pixel_values + 0.1, "mask": None})()
    source = torch.full((3, SIZE, SIZE), 0.3)
    targets = np.random.default_rng(0).uniform(5, 25, (4, 66, 2))
    direct = pipe(source, targets, output_type="pt", normalize_targets=False, face_detector="full_image").images
    chained = pipe(source, targets, output_type="pt", normalize_targets=False, progressive=True,
                   face_detector="full_image").images
    for t in range(4):  # +0.1 in [-1, 1] is +0.05 in [0, 1]
        torch.testing.assert_close(direct[t], torch.full_like(direct[t], 0.35))
        torch.testing.assert_close(chained[t], torch.full_like(chained[t], 0.3 + 0.05 * (t + 1)))


def test_source_face_found_in_a_real_photo():
    """Without source_landmarks the face is detected and cropped by the GANnotation rule around its box."""
    skdata = pytest.importorskip("skimage.data")
    from hfvid.modules.face_detection import box_iou, resolve_face_detector
    from hfvid.modules.heatmaps import warp_affine
    from hfvid.models.gannotation.landmark_maps import crop_box, crop_matrix

    pipe = make_pipe()
    photo = skdata.astronaut()
    (face,) = resolve_face_detector()(photo)
    assert box_iou(face["box"], [184, 72, 272, 176])[0, 0] > 0.65
    box = crop_box(np.asarray(face["box"]).reshape(2, 2), 16.0)
    pixels = torch.from_numpy(photo).permute(2, 0, 1).float()[None] / 255
    expected = warp_affine(pixels, torch.from_numpy(crop_matrix(box, SIZE)).float()[None], SIZE, padding_mode="border")
    torch.testing.assert_close(pipe._prepare_source(photo, None, True, 16.0), expected)
    _, _, trajectory = face_and_trajectory(2)
    assert len(pipe(photo, trajectory).images) == 2  # no other argument
    with pytest.raises(ValueError, match="no face found"):
        pipe(skdata.coffee(), trajectory)


def test_save_load_round_trip(tmp_path):
    pipe = make_pipe(with_critic=True)
    image, source_points, trajectory = face_and_trajectory(3)
    expected = pipe(image, trajectory, source_landmarks=source_points, output_type="pt").images
    pipe.save_pretrained(tmp_path / "pipe")
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    assert index["synthesizer"] == ["hfvid.models.gannotation.modeling_gannotation", "GANnotationGenerator"]
    assert index["critic"] == ["hfvid.models.gannotation.modeling_gannotation", "GANnotationDiscriminator"]
    assert not [p for p in (tmp_path / "pipe").rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
    loaded = GANnotationPipeline.from_pretrained(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.critic, GANnotationDiscriminator)
    assert torch.equal(loaded(image, trajectory, source_landmarks=source_points, output_type="pt").images, expected)

    without_critic = make_pipe()
    without_critic.save_pretrained(tmp_path / "no_critic")
    assert GANnotationPipeline.from_pretrained(tmp_path / "no_critic").critic is None


def test_bad_inputs_raise_clear_errors():
    pipe = make_pipe()
    image, source_points, trajectory = face_and_trajectory(2)
    nan = trajectory.copy()
    nan[0, 3, 0] = np.nan
    cases = [
        (dict(image=image, target_landmarks=np.zeros((2, 5, 2))), "points"),
        (dict(image=image, target_landmarks=nan), "NaN"),
        (dict(image=image[..., 0], target_landmarks=trajectory), "3-channel"),
        (dict(image=np.zeros((SIZE, SIZE, 4), np.uint8), target_landmarks=trajectory), "3-channel"),
        (dict(image=torch.rand(1, SIZE, SIZE), target_landmarks=trajectory), "(3, H, W)"),
        (dict(image=image, target_landmarks=[]), "empty"),
        (dict(image=image, target_landmarks=np.zeros((0, 66, 2))), "empty"),
        (dict(image=image, target_landmarks=trajectory, output_type="jpeg"), "output_type"),
        (dict(image=image, target_landmarks=trajectory, source_landmarks=np.full((68, 2), np.inf)), "source_landmarks"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            pipe(**kwargs)


def test_import_hfvid_does_not_import_diffusers():
    code = "import sys, hfvid; hfvid.GANnotationGenerator; print('diffusers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.slow
def test_fresh_offline_process_loads_the_pipeline(tmp_path):
    pipe = make_pipe()
    image, source_points, trajectory = face_and_trajectory(3)
    expected = pipe(image, trajectory, source_landmarks=source_points, output_type="pt").images
    pipe.save_pretrained(tmp_path / "pipe")
    np.savez(tmp_path / "inputs.npz", image=image, source=source_points, targets=trajectory)
    script = (
        "import sys, sys as s, numpy as np, torch, hfvid\n"
        "assert 'diffusers' not in s.modules, 'import hfvid imported diffusers'\n"
        "torch.set_num_threads(1)\n"
        "pipe = hfvid.GANnotationPipeline.from_pretrained(sys.argv[1]); pipe.set_progress_bar_config(disable=True)\n"
        "d = np.load(sys.argv[2])\n"
        "out = pipe(d['image'], d['targets'], source_landmarks=d['source'], output_type='np').images\n"
        "np.save(sys.argv[3], out)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "pipe"), str(tmp_path / "inputs.npz"),
                             str(tmp_path / "out.npy")], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected.permute(0, 2, 3, 1).numpy(), atol=1e-5)



def test_ibug68_to_5_points_follows_the_blob_convention():
    """Issue 15: eye centres (mean of each eye's 6 points), nose tip 30, mouth corners 48 and 54, image-left first
    as in BLOB_TEMPLATE (the 5-point scheme of the quickstart model); 66-point shapes give the same 5 points."""
    from hfvid.data.synthetic_pairs import BLOB_TEMPLATE, synthetic_face_video
    from hfvid.models.gannotation.landmark_maps import to_5_points, to_66_points, to_model_points

    shape = synthetic_face_video(0, 1, image_size=64)["landmarks"][0]
    five = to_5_points(shape)
    np.testing.assert_allclose(five[0], shape[36:42].mean(0))
    np.testing.assert_allclose(five[1], shape[42:48].mean(0))
    np.testing.assert_allclose(five[2:], shape[[30, 48, 54]])
    np.testing.assert_allclose(to_5_points(to_66_points(shape)), five)
    # same layout as the blob faces: left eye left of right eye, both above the nose, mouth below it
    for points in (five, BLOB_TEMPLATE):
        assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0]
        assert max(points[0, 1], points[1, 1]) < points[2, 1] < min(points[3, 1], points[4, 1])
    assert to_model_points(shape[None], 5).shape == (1, 5, 2) and to_model_points(shape[None], 66).shape[1] == 66
    with pytest.raises(ValueError, match="target_landmarks have 7 points, the model expects 5"):
        to_model_points(np.zeros((1, 7, 2)), 5, "target_landmarks")
    with pytest.raises(ValueError, match="have 5 points, the model expects 66"):
        to_model_points(np.zeros((1, 5, 2)), 66)


def test_five_point_model_takes_68_point_trajectories_and_grey_or_rgba_images():
    """The README call (68-point trajectory and source points) on a 5-point model equals the call with the mapped
    5-point shapes; grey ("L") and RGBA PIL images are converted to RGB, not refused."""
    from PIL import Image

    from hfvid.models.gannotation.landmark_maps import to_5_points

    pipe = make_pipe(num_landmarks=5)
    image, source_points, trajectory = face_and_trajectory(2)
    out = pipe(image, trajectory, source_landmarks=source_points, output_type="np")
    mapped = pipe(image, to_5_points(trajectory), source_landmarks=to_5_points(source_points), output_type="np")
    assert out.landmarks.shape == (2, 5, 2)
    np.testing.assert_allclose(out.images, mapped.images, atol=1e-5)  # float32 vs float64 means
    np.testing.assert_allclose(out.landmarks, mapped.landmarks, atol=1e-4)
    with pytest.raises(ValueError, match="source_landmarks have 3 points, the model expects 5"):
        pipe(image, trajectory, source_landmarks=source_points[:3])

    pil = Image.fromarray(image)
    for mode in ("L", "RGBA", "P"):
        converted = pil.convert(mode)
        got = pipe(converted, trajectory, source_landmarks=source_points, output_type="np").images
        want = pipe(np.asarray(converted.convert("RGB")), trajectory, source_landmarks=source_points,
                    output_type="np").images
        np.testing.assert_array_equal(got, want)
