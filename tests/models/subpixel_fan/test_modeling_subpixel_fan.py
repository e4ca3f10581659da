"""SH-FAN models: common conformance checks, losses, flip test, config validation, registration, a tiny learning run."""

import math
import time

import numpy as np
import pytest
import torch
from model_tester import ModelTester

import hfvid
from hfvid import SubpixelFANConfig, SubpixelFANForFacialLandmarkDetection, SubpixelFANModel
from hfvid.data.landmarks import similarity_about
from hfvid.modules.heatmaps import apply_affine, flip_points, rescale_matrix, warp_affine

SIZE = 64  # crop side of the tiny configs
CENTER = (SIZE - 1) / 2


def make_inputs(batch_size: int, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.rand(batch_size, 3, SIZE, SIZE, generator=generator)}


def view_transforms(batch_size: int) -> torch.Tensor:
    """(B, 2, 3) crop-pixel maps to a second view: odd items mirrored, the others rotated and scaled."""
    return torch.stack([
        similarity_about(CENTER, math.radians(10.0 * (i + 1)), 1.0 + 0.05 * i, (1.0, -2.0), mirror=bool(i % 2))
        for i in range(batch_size)
    ])


def make_labels(inputs: dict, num_landmarks: int = 68) -> dict:
    """Crop-pixel labels (one point masked) and a second view warped from the first with a known transform."""
    pixels = inputs["pixel_values"]
    batch = pixels.shape[0]
    generator = torch.Generator().manual_seed(batch)
    labels = 8 + (SIZE - 16) * torch.rand(batch, num_landmarks, 2, generator=generator)
    mask = torch.ones(batch, num_landmarks, dtype=torch.bool)
    mask[0, -1] = False
    transform = view_transforms(batch)
    return {
        "labels": labels,
        "landmark_mask": mask,
        "pixel_values_transformed": warp_affine(pixels, transform, SIZE),
        "transform_matrix": transform,
    }


def small_config(**overrides) -> SubpixelFANConfig:
    """Spec section 7 item 9: 1 stack, 64 channels, depth 2, N=5, 64x64 input."""
    values = dict(num_stacks=1, hidden_size=64, hourglass_depth=2, image_size=SIZE, heatmap_size=SIZE // 4,
                  num_landmarks=5, landmark_scheme="custom", flip_permutation=[1, 0, 2, 4, 3], norm_type="group")
    return SubpixelFANConfig(**(values | overrides))


def central_points(batch: int, num_landmarks: int, seed: int = 0) -> torch.Tensor:
    """Crop-pixel points well inside the crop (a decode window fits around each on the 16x16 map)."""
    generator = torch.Generator().manual_seed(seed)
    return 16 + 32 * torch.rand(batch, num_landmarks, 2, generator=generator)


# ---------------------------------------------------------------- conformance
def test_detection_model_conformance(tiny_fan_config, tmp_path):
    pixels = torch.rand(2, 3, SIZE, SIZE)
    bad = [
        ({"pixel_values": torch.rand(2, 3, 32, 32)}, "pixel_values"),
        ({"pixel_values": torch.rand(3, SIZE, SIZE)}, "pixel_values"),
        ({"pixel_values": pixels, "labels": torch.rand(2, 5, 2)}, "labels"),
        ({"pixel_values": pixels, "pixel_values_transformed": pixels}, "transform_matrix"),
    ]
    tester = ModelTester(SubpixelFANForFacialLandmarkDetection, tiny_fan_config, make_inputs, make_labels,
                         output_keys=("landmarks", "heatmaps", "scores"))
    tester.run_all(tmp_path, bad_inputs=bad)  # the one offline subprocess of this module


def test_base_model_conformance(tiny_fan_config, tmp_path):
    tester = ModelTester(SubpixelFANModel, tiny_fan_config, make_inputs, None,
                         output_keys=("heatmaps", "last_hidden_state"))
    tester.run_all(tmp_path, bad_inputs=[({"pixel_values": torch.rand(1, 1, SIZE, SIZE)}, "pixel_values")],
                   offline=False)


def test_checkpointing_counts_each_batch_once_in_batch_norm(tiny_fan_config):
    """With BatchNorm (FAN parity), the recomputed hourglasses leave the running statistics as one step sets them."""
    config = SubpixelFANConfig(**(tiny_fan_config.to_dict() | {"norm_type": "batch"}))
    for model_class, keys in ((SubpixelFANModel, ("heatmaps",)), (SubpixelFANForFacialLandmarkDetection, ("heatmaps",))):
        ModelTester(model_class, config, make_inputs, None, output_keys=keys).check_gradient_checkpointing()


def test_batch_norm_buffers_survive_loading(tiny_fan_config, tmp_path):
    config = SubpixelFANConfig(**(tiny_fan_config.to_dict() | {"norm_type": "batch"}))
    tester = ModelTester(SubpixelFANForFacialLandmarkDetection, config, make_inputs)
    model = tester.new_model().train()
    with torch.no_grad():
        model(torch.rand(4, 3, SIZE, SIZE) * 3)  # move the running statistics away from their initial values
    tester.new_model = lambda seed=0: model
    tester.check_no_uninitialized_weights(tmp_path)


# ---------------------------------------------------------------- shapes (spec 7.9)
def test_shapes_and_stacks():
    model = SubpixelFANForFacialLandmarkDetection(small_config()).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, SIZE, SIZE), output_all_heatmaps=True)
    assert isinstance(out.all_heatmaps, tuple) and len(out.all_heatmaps) == 1
    assert out.all_heatmaps[0].shape == (2, 5, 16, 16)
    assert out.heatmaps.shape == (2, 5, 16, 16)
    assert out.landmarks.shape == (2, 5, 2) and out.scores.shape == (2, 5)
    assert ((out.landmarks >= -0.5) & (out.landmarks <= SIZE - 0.5)).all()
    assert out.loss is None and out.supervised_loss is None and out.consistency_loss is None
    assert isinstance(model(torch.rand(1, 3, SIZE, SIZE), return_dict=False), tuple)

    config = small_config(num_stacks=2, hidden_size=32)
    with torch.no_grad():
        base = SubpixelFANModel(config)(torch.rand(3, 3, SIZE, SIZE))
        model = SubpixelFANForFacialLandmarkDetection(config)
        out = model(torch.rand(3, 3, SIZE, SIZE), output_all_heatmaps=True)
        assert model.eval()(torch.rand(3, 3, SIZE, SIZE)).all_heatmaps is None  # inference: last stack only
    assert len(base.heatmaps) == 2 and all(h.shape == (3, 5, 16, 16) for h in base.heatmaps)
    assert base.last_hidden_state.shape == (3, 32, 16, 16)
    assert len(out.all_heatmaps) == 2 and out.heatmaps is out.all_heatmaps[-1]
    model.train()
    assert len(model(torch.rand(2, 3, SIZE, SIZE)).all_heatmaps) == 2  # training: every stack, for the loss


def test_loss_is_sum_of_terms():
    config = small_config(consistency_weight=0.5)
    model = SubpixelFANForFacialLandmarkDetection(config).eval()
    inputs = make_inputs(2, 0)
    out = model(**inputs, **make_labels(inputs, num_landmarks=5))
    torch.testing.assert_close(out.loss, out.supervised_loss + 0.5 * out.consistency_loss)
    unlabelled = model(**inputs, **{k: v for k, v in make_labels(inputs, 5).items() if "transform" in k})
    assert unlabelled.supervised_loss is None
    torch.testing.assert_close(unlabelled.loss, 0.5 * unlabelled.consistency_loss)


# ---------------------------------------------------------------- supervised loss
def test_perfect_heatmaps_give_zero_supervised_loss(tiny_fan_config):
    model = SubpixelFANForFacialLandmarkDetection(tiny_fan_config)
    labels = central_points(2, 68)
    target = model.encode(labels)
    mask = torch.ones(2, 68, dtype=torch.bool)
    assert model._supervised_loss((target, target), labels, mask).item() == 0.0
    assert model._supervised_loss((target, target + 0.1), labels, mask).item() > 0.0


def test_masked_points_get_no_gradient(tiny_fan_config):
    model = SubpixelFANForFacialLandmarkDetection(tiny_fan_config).eval()
    labels = central_points(2, 68)
    mask = torch.ones(2, 68, dtype=torch.bool)
    mask[0, 5] = False
    stacks = tuple(torch.rand(2, 68, 16, 16, requires_grad=True) for _ in range(2))
    model._supervised_loss(stacks, labels, mask).backward()
    for heatmaps in stacks:
        assert heatmaps.grad[0, 5].abs().max() == 0
        assert heatmaps.grad[0, 4].abs().max() > 0 and heatmaps.grad[1, 5].abs().max() > 0

    # through the full forward pass, with a mirrored second view (the mask is permuted with the labels)
    inputs = make_inputs(2, 0)
    extra = make_labels(inputs)
    extra["landmark_mask"] = mask
    moved = dict(extra, labels=extra["labels"].clone())
    moved["labels"][0, 5] += torch.tensor([9.0, -7.0])
    with torch.no_grad():
        a, b = model(**inputs, **extra), model(**inputs, **moved)
    assert torch.equal(a.supervised_loss, b.supervised_loss)


def test_points_outside_the_crop_are_excluded(tiny_fan_config):
    model = SubpixelFANForFacialLandmarkDetection(tiny_fan_config)
    labels = central_points(1, 68)
    stacks = (torch.rand(1, 68, 16, 16), torch.rand(1, 68, 16, 16))
    mask = torch.ones(1, 68, dtype=torch.bool)
    outside = labels.clone()
    outside[0, 3] = torch.tensor([-5.0, 30.0])
    outside[0, 7] = torch.tensor([30.0, SIZE + 2.0])
    masked = mask.clone()
    masked[0, [3, 7]] = False
    expected = model._supervised_loss(stacks, labels, masked)
    torch.testing.assert_close(model._supervised_loss(stacks, outside, mask), expected, rtol=0, atol=0)


# ---------------------------------------------------------------- consistency loss
@pytest.mark.parametrize("space", ["heatmap", "coords"])
def test_consistency_loss_vanishes_for_exact_second_view(tiny_fan_config, space):
    """A model whose heatmaps are exact encodings of the landmarks is consistent under the views' transform."""
    config = SubpixelFANConfig(**(tiny_fan_config.to_dict() | {"consistency_space": space}))
    model = SubpixelFANForFacialLandmarkDetection(config)
    perm = config.flip_permutation
    points = central_points(2, 68)
    stacks_1 = (model.encode(points),) * 2

    def loss(transform, second_points):
        return model._consistency_loss(stacks_1, (model.encode(second_points),) * 2, transform).item()

    identity = torch.eye(2, 3).expand(2, 2, 3)
    mirror = similarity_about(CENTER, 0.0, 1.0, (0.0, 0.0), mirror=True).expand(2, 2, 3)
    mirrored_points = apply_affine(mirror, points)
    exact = {"heatmap": 1e-10, "coords": 1e-4}[space]  # coords: float rounding of the decoded positions
    print(f"{space}: identity {loss(identity, points):.2e}, mirror {loss(mirror, mirrored_points[:, perm]):.2e}, "
          f"mirror without the permutation {loss(mirror, mirrored_points):.2e}")
    assert loss(identity, points) < exact
    assert loss(mirror, mirrored_points[:, perm]) < exact
    assert loss(mirror, mirrored_points) > 1000 * exact

    # a mild rotation: the exact target of the second view differs from the warped first view only by resampling
    rotation = similarity_about(CENTER, math.radians(10.0), 1.0, (0.0, 0.0), mirror=False).expand(2, 2, 3)
    shifted = similarity_about(CENTER, math.radians(10.0), 1.0, (6.0, 0.0), mirror=False).expand(2, 2, 3)
    good, wrong = loss(rotation, apply_affine(rotation, points)), loss(rotation, apply_affine(shifted, points))
    print(f"{space}: rotated consistency {good:.2e}, with a 6 px error {wrong:.2e}")
    assert good < (1e-3 if space == "heatmap" else 0.4)
    assert wrong > 10 * good


def test_consistency_loss_of_exactly_warped_heatmaps_is_zero(tiny_fan_config):
    model = SubpixelFANForFacialLandmarkDetection(tiny_fan_config)
    heatmaps = torch.rand(2, 68, 16, 16)
    transform = view_transforms(2)
    warped = warp_affine(heatmaps, rescale_matrix(transform, 4), 16)
    warped[1] = warped[1, tiny_fan_config.flip_permutation]  # item 1 is mirrored
    assert model._consistency_loss((heatmaps,), (warped,), transform).item() < 1e-12


# ---------------------------------------------------------------- flip test
def test_flip_test_is_mirror_equivariant(tiny_fan_config):
    model = SubpixelFANForFacialLandmarkDetection(tiny_fan_config).eval()
    perm = tiny_fan_config.flip_permutation
    pixels = torch.rand(1, 3, SIZE, SIZE)
    symmetric = 0.5 * (pixels + pixels.flip(-1))
    with torch.no_grad():
        out = model(symmetric, flip_test=True)
        plain = model(symmetric)
        on_image, on_mirror = model(pixels, flip_test=True), model(pixels.flip(-1), flip_test=True)
    # a symmetric face gives mirror-symmetric averaged heatmaps, which plain inference does not
    torch.testing.assert_close(out.heatmaps.flip(-1)[:, perm], out.heatmaps, atol=1e-6, rtol=0)
    assert (plain.heatmaps.flip(-1)[:, perm] - plain.heatmaps).abs().max() > 1e-3
    # landmarks of the mirrored image are the mirrored landmarks (points that are their own mirror can tie)
    paired = [i for i in range(68) if perm[i] != i]
    mirrored = flip_points(on_image.landmarks, SIZE, perm)
    torch.testing.assert_close(on_mirror.landmarks[:, paired], mirrored[:, paired], atol=1e-4, rtol=0)
    torch.testing.assert_close(on_mirror.heatmaps, on_image.heatmaps.flip(-1)[:, perm], atol=1e-6, rtol=0)


def test_flip_test_needs_a_permutation():
    model = SubpixelFANForFacialLandmarkDetection(small_config(flip_permutation=None))
    with pytest.raises(ValueError, match="flip_permutation"):
        model(torch.rand(1, 3, SIZE, SIZE), flip_test=True)


# ---------------------------------------------------------------- config and registration
@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"num_stacks": "two"}, "num_stacks"),
        ({"heatmap_sigma": "2"}, "heatmap_sigma"),
        ({"decode_window": 4}, "decode_window"),
        ({"heatmap_size": 32}, "heatmap_size"),
        ({"flip_permutation": [1, 2, 0, 3, 4]}, "flip_permutation"),
        ({"flip_permutation": [1, 0, 2]}, "flip_permutation"),
        ({"landmark_scheme": "ibug68"}, "num_landmarks"),
        ({"norm_type": "layer"}, "norm_type"),
        ({"encoding": "round"}, "encoding"),
        ({"eye_indices": [0, 9]}, "eye_indices"),
        ({"consistency_weight": -1.0}, "consistency_weight"),
        ({"cpu_inference_chunk_size": -2}, "cpu_inference_chunk_size"),
    ],
)
def test_config_validation(overrides, field):
    with pytest.raises(ValueError, match=field):
        small_config(**overrides)


def test_config_defaults_and_scheme_tables():
    config = SubpixelFANConfig()
    assert (config.num_landmarks, config.num_stacks, config.image_size, config.heatmap_size) == (68, 4, 256, 64)
    assert len(config.flip_permutation) == 68 and config.eye_indices == [36, 45]
    assert len(SubpixelFANConfig(num_landmarks=98, landmark_scheme="wflw98").flip_permutation) == 98
    assert SubpixelFANConfig(heatmap_sigma=2).heatmap_sigma == 2.0  # ints accepted for float fields


def test_auto_registration(tiny_fan_config):
    from transformers import AutoConfig, AutoModel, AutoModelForPoseEstimation

    assert hfvid.SubpixelFANConfig is SubpixelFANConfig
    fields = {k: v for k, v in tiny_fan_config.to_dict().items() if k not in ("model_type", "transformers_version")}
    config = AutoConfig.for_model("hfvid-subpixel-fan", **fields)
    assert isinstance(config, SubpixelFANConfig)
    assert type(AutoModelForPoseEstimation.from_config(config)) is SubpixelFANForFacialLandmarkDetection
    assert type(AutoModel.from_config(config)) is SubpixelFANModel


# ---------------------------------------------------------------- tiny learning task (spec 7.11)
LANDMARKS = [36, 45, 30, 48, 54]  # eye corners, nose tip, mouth corners
LEARN_STEPS, LEARN_LR, LEARN_BATCH, TRAIN_FACES = 450, 4e-3, 16, 512


def test_learns_synthetic_five_point_faces():
    from torch.utils.data import default_collate

    from hfvid import SubpixelFANImageProcessor
    from hfvid.data.landmarks import LandmarkTrainingViews
    from hfvid.data.synthetic import synthetic_faces

    start = time.perf_counter()
    perm = [1, 0, 2, 4, 3]
    processor = SubpixelFANImageProcessor(crop_size=SIZE)
    train = LandmarkTrainingViews(
        synthetic_faces(TRAIN_FACES, 96, seed=0, landmark_indices=LANDMARKS), processor, flip_permutation=perm,
        rotation=15.0, scale_range=(0.9, 1.1), color_jitter=0.1, second_view=False, seed=0,
    )
    held_out = LandmarkTrainingViews(synthetic_faces(64, 96, seed=1, landmark_indices=LANDMARKS), processor,
                                     augment=False)
    test_batch = default_collate([held_out[i] for i in range(len(held_out))])
    config = small_config(hidden_size=32)
    model = SubpixelFANForFacialLandmarkDetection(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARN_LR)

    def held_out_error() -> float:
        model.eval()
        with torch.no_grad():
            landmarks = model(test_batch["pixel_values"]).landmarks
        model.train()
        return (landmarks - test_batch["labels"]).norm(dim=-1).mean().item()

    error_before = held_out_error()
    rng = np.random.default_rng(0)
    per_epoch = TRAIN_FACES // LEARN_BATCH
    losses = []
    for step in range(LEARN_STEPS):
        if step % per_epoch == 0:
            train.set_epoch(step // per_epoch)
            order = rng.permutation(TRAIN_FACES)
        batch = default_collate([train[i] for i in order[(step % per_epoch) * LEARN_BATCH:][:LEARN_BATCH]])
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    error_after = held_out_error()
    first, settled, last = np.mean(losses[:10]), np.mean(losses[40:50]), np.mean(losses[-10:])
    print(f"learning: loss {first:.4f} -> {settled:.4f} (step 50) -> {last:.4f}, held-out error "
          f"{error_before:.2f} -> {error_after:.2f} crop px, {time.perf_counter() - start:.1f} s")
    assert np.isfinite(losses).all()
    assert last < first / 3
    assert last < settled / 2  # still learning after the initial shrinking of the (large) initial heatmaps
    assert error_after < 3.0


# ---------------------------------------------------------------- inference path options
def test_inference_layouts_and_bfloat16_agree_with_the_plain_path():
    config = small_config(num_stacks=2, hidden_size=32, norm_type="batch")
    model = SubpixelFANForFacialLandmarkDetection(config).eval()
    pixels = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    plain = model(pixels)  # autograd on: plain path, default layout
    with torch.no_grad():
        fast = model(pixels)
        model.config.channels_last = False
        default_layout = model(pixels)
        model.config.channels_last = True
        model.config.cpu_inference_chunk_size = 1  # each crop on its own: same results as the whole batch
        chunked = model(pixels)
        model.config.cpu_inference_chunk_size = 2
        half = SubpixelFANForFacialLandmarkDetection(config).eval()
        half.load_state_dict(model.state_dict())
        half = half.to(torch.bfloat16)(pixels.to(torch.bfloat16))
    scale = plain.heatmaps.abs().max().item()  # kaiming-initialised, unnormalised: values are not O(1)
    for out in (fast, default_layout, chunked):
        torch.testing.assert_close(out.heatmaps, plain.heatmaps.detach(), rtol=0, atol=1e-5 * scale)
        torch.testing.assert_close(out.landmarks, plain.landmarks.detach(), rtol=0, atol=1e-4)
    assert fast.heatmaps.is_contiguous()
    assert half.heatmaps.dtype == torch.bfloat16 and half.landmarks.dtype == torch.float32  # decoded in float32
    assert (half.landmarks - fast.landmarks).abs().max() < 2.0
