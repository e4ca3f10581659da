"""GANnotation networks, landmark maps, losses and metrics: conformance, spec section 7 properties, a learning run."""

import math

import numpy as np
import pytest
import torch
from model_tester import ModelTester

from hfvid import GANnotationConfig, GANnotationDiscriminator, GANnotationGenerator
from hfvid.data.synthetic_pairs import blob_face_video, synthetic_videos
from hfvid.metrics.synthesis import cycle_error, l1_error, psnr, recurrent_consistency_gap, ssim
from hfvid.models.gannotation.landmark_maps import (
    IBUG66_FLIP_PERMUTATION,
    IBUG66_FROM_68,
    crop_box,
    normalize_shape,
    render_edge_maps,
    render_landmark_maps,
    render_legacy_heatmaps,
    to_66_points,
)
from hfvid.models.gannotation.losses import gradient_penalty, total_variation, triplet_losses
from hfvid.modules.heatmaps import flip_points

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(**overrides) -> GANnotationConfig:
    """Spec 7.1: base 8 channels, 1 residual block, N = 5, 32x32; a 3-layer critic."""
    values = dict(num_landmarks=5, base_channels=8, num_res_blocks=1, image_size=SIZE, critic_num_layers=3,
                  critic_base_channels=8)
    return GANnotationConfig(**(values | overrides))


def make_inputs(batch_size: int, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"pixel_values": torch.rand(batch_size, 3, SIZE, SIZE, generator=generator) * 2 - 1,
            "landmark_maps": torch.rand(batch_size, 5, SIZE, SIZE, generator=generator)}


def make_labels(inputs: dict) -> dict:
    return {"labels": torch.rand_like(inputs["pixel_values"]) * 2 - 1}


def make_critic_labels(inputs: dict) -> dict:
    return {"labels": (torch.arange(inputs["pixel_values"].shape[0]) % 2).float()}


# ---------------------------------------------------------------- conformance
def test_generator_conformance(tmp_path):
    pixels, maps = torch.rand(2, 3, SIZE, SIZE), torch.rand(2, 5, SIZE, SIZE)
    bad = [
        ({"pixel_values": torch.rand(2, 1, SIZE, SIZE), "landmark_maps": maps}, "pixel_values"),
        ({"pixel_values": torch.rand(2, 3, 16, 16), "landmark_maps": maps}, "pixel_values"),
        ({"pixel_values": pixels, "landmark_maps": torch.rand(2, 4, SIZE, SIZE)}, "landmark_maps"),
        ({"pixel_values": pixels}, "exactly one"),
        ({"pixel_values": pixels, "target_landmarks": torch.rand(2, 6, 2)}, "target_landmarks"),
        ({"pixel_values": pixels, "landmark_maps": maps, "labels": torch.rand(2, 3, 8, 8)}, "labels"),
    ]
    tester = ModelTester(GANnotationGenerator, tiny_config(), make_inputs, make_labels,
                         output_keys=("sample", "color", "mask"))
    # the offline-subprocess check is left to the pipeline tests (a fresh process costs ~10 s on a shared CPU)
    tester.run_all(tmp_path, bad_inputs=bad, offline=False)


def test_discriminator_conformance(tmp_path):
    tester = ModelTester(GANnotationDiscriminator, tiny_config(), make_inputs, make_critic_labels,
                         output_keys=("logits",))
    tester.check_conformance()
    tester.check_batch_consistency()
    tester.check_eval_determinism()
    tester.check_gradients_reach_all_parameters()
    tester.check_loss_decreases()
    tester.check_bad_inputs([
        ({"pixel_values": torch.rand(2, 3, 16, 16)}, "pixel_values"),
        ({"pixel_values": torch.rand(2, 3, SIZE, SIZE), "labels": torch.ones(3)}, "labels"),
    ])
    tester.check_no_uninitialized_weights(tmp_path)
    loaded = GANnotationDiscriminator.from_pretrained(tmp_path / "init_check")
    assert loaded.config.model_type == "hfvid-gannotation"


def test_config_validation():
    for kwargs, field in [({"landmark_encoding": "dots"}, "landmark_encoding"), ({"input_range": "0_255"}, "input_range"),
                          ({"image_size": 30}, "image_size"), ({"lambda_rcc": -1.0}, "lambda_rcc"),
                          ({"landmark_encoding": "edge", "num_landmarks": 5}, "edge"), ({"base_channels": "x"}, "base_channels"),
                          ({"gan_type": "lsgan"}, "gan_type")]:
        with pytest.raises(ValueError, match=field):
            tiny_config(**kwargs)
    assert GANnotationConfig(lambda_rec=2).lambda_rec == 2.0


# ---------------------------------------------------------------- shapes, range, mask (spec 7.1-7.3)
def test_shapes_full_size_and_tiny():
    config = GANnotationConfig(base_channels=4, num_res_blocks=1, critic_base_channels=2)  # 66 maps, 128 px, 6 layers
    generator, critic = GANnotationGenerator(config).eval(), GANnotationDiscriminator(config).eval()
    with torch.no_grad():
        out = generator(torch.rand(2, 3, 128, 128) * 2 - 1, landmark_maps=torch.rand(2, 66, 128, 128))
        assert out.sample.shape == (2, 3, 128, 128) and out.mask.shape == (2, 1, 128, 128)
        assert critic(out.sample).logits.shape == (2, 1, 2, 2)
        tiny = tiny_config()
        assert GANnotationDiscriminator(tiny)(torch.rand(3, 3, SIZE, SIZE)).logits.shape == (3, 1, 4, 4)
        conditional = GANnotationDiscriminator(tiny_config(critic_conditional=True))
        assert conditional(torch.rand(1, 3, SIZE, SIZE), target_landmarks=torch.rand(1, 5, 2) * 31).logits.shape == (1, 1, 4, 4)
        unmasked = GANnotationGenerator(tiny_config(use_mask=False))(**make_inputs(1, 0))
        assert unmasked.mask is None and torch.equal(unmasked.sample, unmasked.color)


def test_output_range_and_mask_algebra():
    generator = GANnotationGenerator(tiny_config()).eval()
    inputs = make_inputs(2, 5)
    source = inputs["pixel_values"]
    with torch.no_grad():
        out = generator(**inputs)
        assert out.sample.min() >= -1 and out.sample.max() <= 1
        generator.mask_layer[0].weight.zero_()
        out = generator(**inputs)
    assert torch.all(out.mask == 0.5)
    torch.testing.assert_close(out.sample, (source + out.color) / 2, atol=1e-6, rtol=0)
    for value, expected in ((1.0, source), (0.0, out.color)):
        generator.mask_layer[1].forward = lambda x, v=value: torch.full_like(x, v)
        with torch.no_grad():
            blended = generator(**inputs)
        assert torch.equal(blended.sample, expected)


# ---------------------------------------------------------------- losses (spec 7.4-7.6)
def test_recurrent_loss_identities():
    images = [torch.rand(2, 3, 8, 8) for _ in range(3)]
    maps = [torch.rand(2, 5, 8, 8) for _ in range(3)]
    identity = triplet_losses(lambda x, h: x, *images, *maps)
    assert identity["cyc"] == 0 and identity["rcc"] == 0
    torch.testing.assert_close(identity["rec"], (images[0] - images[1]).abs().mean())
    ignores_image = triplet_losses(lambda x, h: h[:, :3] * 2 - 1, *images, *maps)  # G(x, h) = r(h)
    assert ignores_image["rcc"] == 0 and ignores_image["cyc"] > 0
    shifts = triplet_losses(lambda x, h: x + 0.1, *images, *maps)  # depends on the path: positive
    assert shifts["rcc"] > 0.09


def test_gradient_penalty_on_linear_critics():
    real, fake = torch.randn(4, 3, 5, 5), torch.randn(4, 3, 5, 5)
    w = torch.randn(3, 5, 5)
    for norm, expected in ((1.0, 0.0), (2.0, 1.0)):
        weight = w / w.norm() * norm
        gp = gradient_penalty(lambda x, k=weight: (x * k).flatten(1).sum(1), real, fake)
        assert abs(gp.item() - expected) < 1e-6


def test_total_variation():
    assert total_variation(torch.full((2, 3, 4, 4), 0.7)).item() == 0
    checkerboard = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    # dy^2 sum 2 / (1*1*2) + dx^2 sum 2 / (1*2*1) = 2, times 2 / batch 1
    assert total_variation(checkerboard).item() == pytest.approx(4.0)


# ---------------------------------------------------------------- landmark maps (spec 7.7-7.8)
def test_heatmap_peaks_and_outside_points():
    points = torch.tensor([[[5.3, 7.8], [20.6, 3.1], [-4.0, 10.0], [10.0, 40.0]]])
    maps = render_landmark_maps(points, SIZE, "heatmap", 1.75)
    flat = maps[0, :2].flatten(1).argmax(1)
    assert torch.equal(torch.stack([flat % SIZE, flat // SIZE], 1), points[0, :2].round().long())
    assert maps[0, 2:].abs().max() == 0


def _reference_generate_maps(points, size):
    """Port of the official utils.generate_maps / draw_gaussian (sigma=1) for points away from the borders."""
    def gaussian(n=7, s=0.25):
        centre = 0.5 * n + 0.5
        return np.array([[math.exp(-(((j + 1 - centre) / (s * n)) ** 2 / 2 + ((i + 1 - centre) / (s * n)) ** 2 / 2))
                          for j in range(n)] for i in range(n)], dtype=np.float32)

    maps = []
    for x, y in points:
        image = np.zeros((size, size))
        x, y = round(x, 2), round(y, 2)
        ul = [math.floor(x - 3), math.floor(y - 3)]
        br = [math.floor(x + 3), math.floor(y + 3)]
        g = gaussian()
        g_x = [int(max(1, -ul[0])), int(min(br[0], size)) - int(max(1, ul[0])) + int(max(1, -ul[0]))]
        g_y = [int(max(1, -ul[1])), int(min(br[1], size)) - int(max(1, ul[1])) + int(max(1, -ul[1]))]
        img_x = [int(max(1, ul[0])), int(min(br[0], size))]
        img_y = [int(max(1, ul[1])), int(min(br[1], size))]
        image[img_y[0] - 1:img_y[1], img_x[0] - 1:img_x[1]] += g[g_y[0] - 1:g_y[1], g_x[0] - 1:g_x[1]]
        maps.append(np.minimum(image, 1))
    return np.stack(maps)


def test_legacy_renderer_reproduces_official_maps():
    rng = np.random.default_rng(0)
    for _ in range(10):
        points = rng.uniform(5, 122, (66, 2))
        ours = render_legacy_heatmaps(torch.from_numpy(points)[None], 128)[0].numpy()
        np.testing.assert_allclose(ours, _reference_generate_maps(points, 128), atol=1e-6)


def test_66_point_helpers_and_mirror_equivariance():
    points68 = torch.rand(2, 68, 2)
    points66 = to_66_points(points68)
    assert points66.shape == (2, 66, 2) and set(range(68)) - set(IBUG66_FROM_68) == {60, 64}
    assert torch.equal(points66, points68[:, [i for i in range(68) if i not in (60, 64)]])
    perm = list(IBUG66_FLIP_PERMUTATION)
    assert sorted(perm) == list(range(66)) and [perm[p] for p in perm] == list(range(66))
    shape = torch.from_numpy(np.random.default_rng(1).uniform(4, 27, (1, 66, 2))).float()
    mirrored = render_landmark_maps(flip_points(shape, SIZE, perm), SIZE)
    torch.testing.assert_close(mirrored, render_landmark_maps(shape, SIZE).flip(-1)[:, perm], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="68 or 66"):
        to_66_points(torch.rand(1, 5, 2))


def test_edge_maps_and_crop_rule():
    face = synthetic_videos(1, 1, 64)[0]["landmarks"]
    edges = render_edge_maps(torch.from_numpy(face), 64)
    assert edges.shape == (1, 3, 64, 64) and edges.min() == -1 and edges.max() == 1
    jaw_point = face[0, 8].round().astype(int)
    assert edges[0, 0, jaw_point[1], jaw_point[0]] == 1  # the jaw polyline is drawn in the red channel
    assert render_landmark_maps(torch.from_numpy(to_66_points(face)), 64, "edge").shape == (1, 3, 64, 64)
    square = np.array([[10.0, 10.0], [110.0, 110.0]])
    np.testing.assert_allclose(crop_box(square), [-6, -6, 126, 126])  # margin 16 * 100 / 100
    np.testing.assert_allclose(normalize_shape(square, 128), [[16 * 128 / 132] * 2, [116 * 128 / 132] * 2])


# ---------------------------------------------------------------- metrics
def test_synthesis_metrics():
    a = torch.rand(2, 3, 16, 16) * 2 - 1
    assert l1_error(a, a) == 0 and ssim(a, a) == pytest.approx(1.0) and psnr(a, a) == math.inf
    assert psnr(a, a + 0.2) == pytest.approx(10 * math.log10(4 / 0.04))
    assert ssim(a, a.flip(-1)) < 0.5
    assert recurrent_consistency_gap(lambda x, h: x, a, None, None) == 0
    assert cycle_error(lambda x, h: x + 0.1, a, None, None) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="shape"):
        l1_error(a, a[:1])


# ---------------------------------------------------------------- tiny learning task (spec 7.12)
def _blob_triplets(num_videos: int, seed: int):
    frames = [blob_face_video((seed, v), 3, SIZE, blob_radius=3.0) for v in range(num_videos)]
    images = torch.from_numpy(np.stack([f["images"] for f in frames])).permute(1, 0, 4, 2, 3).float() / 127.5 - 1
    points = torch.from_numpy(np.stack([f["landmarks"] for f in frames])).permute(1, 0, 2, 3)
    return images, points  # (3, V, 3, S, S), (3, V, 5, 2)


def _blob_centroids(images: torch.Tensor, guesses: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Darkness-weighted centroid in a window around each guess (the blobs are near-black)."""
    darkness = (1 - (images.mean(1) + 1) / 2).clamp_min(0) ** 4  # (B, S, S)
    ys, xs = torch.meshgrid(torch.arange(SIZE).float(), torch.arange(SIZE).float(), indexing="ij")
    out = []
    for b in range(images.shape[0]):
        row = []
        for x, y in guesses[b]:
            window = ((xs - x).abs() <= radius) & ((ys - y).abs() <= radius)
            w = darkness[b] * window
            row.append(torch.stack([(w * xs).sum(), (w * ys).sum()]) / w.sum().clamp_min(1e-6))
        out.append(torch.stack(row))
    return torch.stack(out)


def test_learning_reduces_reconstruction_error_below_copy_baseline():
    """L_rec + 0.1 (L_cyc + L_rcc): with equal weights this tiny model collapses to copying (mask -> 1, pitfall 8)."""
    torch.manual_seed(0)
    config = tiny_config(heatmap_sigma=1.5)
    generator = GANnotationGenerator(config).train()
    images, points = _blob_triplets(48, seed=0)
    optimizer = torch.optim.Adam(generator.parameters(), lr=3e-3, betas=(0.5, 0.9))
    render = generator.render_landmarks
    generate = lambda x, h: generator(x, landmark_maps=h).sample  # noqa: E731
    maps = [render(p) for p in points]
    for step in range(150):
        idx = torch.randint(0, images.shape[1], (8,))
        order = torch.randperm(3)  # any frame can be the source
        parts = triplet_losses(generate, *(images[o, idx] for o in order), *(maps[o][idx] for o in order))
        loss = parts["rec"] + 0.1 * (parts["cyc"] + parts["rcc"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    generator.eval()
    test_images, test_points = _blob_triplets(16, seed=1)
    with torch.no_grad():
        output = generate(test_images[0], render(test_points[1]))
    error = l1_error(output, test_images[1])
    baseline = l1_error(test_images[0], test_images[1])
    assert error < 0.8 * baseline, f"L1 {error:.4f} not 20% below the copy baseline {baseline:.4f}"
    targets, sources = test_points[1], test_points[0]
    found = _blob_centroids(output, targets)
    to_target = (found - targets).norm(dim=-1).mean()
    source_to_target = (sources - targets).norm(dim=-1).mean()
    assert to_target < source_to_target, f"blobs {to_target:.2f} px from targets, sources {source_to_target:.2f} px"
