"""Heatmap encode/decode, flips and warps: the CPU-checkable properties 1-7 of the SH-FAN spec (section 7)."""

import math

import pytest
import torch

from hfvid.modules.heatmaps import (
    FLIP_PERMUTATIONS,
    apply_affine,
    compose_affine,
    decode_heatmaps,
    encode_heatmaps,
    flip_heatmaps,
    flip_points,
    from_map_coords,
    invert_affine,
    rescale_matrix,
    to_map_coords,
    warp_affine,
)

SIZE = 64  # heatmap side used by the spec's measurements


def random_points(n: int = 300, low: float = 8.0, high: float = SIZE - 9.0, seed: int = 0) -> torch.Tensor:
    """(1, n, 2) sub-pixel locations away from the borders."""
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(1, n, 2, generator=generator)


def max_error(decoded: torch.Tensor, points: torch.Tensor) -> float:
    """Largest per-coordinate |error|, in heatmap pixels."""
    return (decoded - points).abs().max().item()


def random_similarity(generator, center: float, max_angle=30.0, scales=(0.8, 1.2), max_shift=3.0) -> torch.Tensor:
    """(1, 2, 3) rotation + scale about ``center`` followed by a shift."""
    angle = math.radians((torch.rand(1, generator=generator).item() * 2 - 1) * max_angle)
    scale = scales[0] + (scales[1] - scales[0]) * torch.rand(1, generator=generator).item()
    shift = (torch.rand(2, generator=generator) * 2 - 1) * max_shift
    linear = scale * torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    c = torch.tensor([center, center])
    return torch.cat([linear, (c - linear @ c + shift)[:, None]], dim=1)[None]


# ---------------------------------------------------------------- 1. round trip
def test_continuous_round_trip_beats_argmax_and_quarter_shift():
    points = random_points()
    maps = encode_heatmaps(points, SIZE, sigma=2.0)
    local = max_error(decode_heatmaps(maps, "local_soft_argmax", window=5, temperature=10.0)[0], points)
    argmax = max_error(decode_heatmaps(maps, "argmax")[0], points)
    quarter = max_error(decode_heatmaps(maps, "argmax_quarter_shift")[0], points)
    print(f"max error: local soft-argmax {local:.4f}, argmax {argmax:.4f}, quarter shift {quarter:.4f}")
    assert local <= 0.02
    assert 0.45 <= argmax <= 0.5 + 1e-6  # quantisation: up to half a pixel
    assert 0.2 <= quarter <= 0.25 + 1e-6


@pytest.mark.parametrize(
    "sigma, temperature, bound, should_pass",
    [
        (2.0, 10.0, 0.02, True),
        (1.5, 10.0, 0.035, True),
        (3.0, 20.0, 0.01, True),
        (1.0, 10.0, 0.1, False),  # too narrow for t=10: the error must be large, so a bad default fails loudly
    ],
)
def test_round_trip_table(sigma, temperature, bound, should_pass):
    points = random_points(seed=1)
    decoded, _ = decode_heatmaps(encode_heatmaps(points, SIZE, sigma=sigma), window=5, temperature=temperature)
    error = max_error(decoded, points)
    assert (error <= bound) if should_pass else (error > bound), f"sigma={sigma} t={temperature}: max error {error:.4f}"


def test_round_trip_with_config_defaults():
    from hfvid import SubpixelFANConfig

    config = SubpixelFANConfig()
    points = random_points(seed=2)
    maps = encode_heatmaps(points, SIZE, sigma=config.heatmap_sigma, encoding=config.encoding)
    decoded, _ = decode_heatmaps(
        maps, config.decode_method, config.decode_window, config.decode_temperature, config.decode_normalize_peak
    )
    assert max_error(decoded, points) <= 0.02


# ---------------------------------------------------------------- 2. amplitude
def test_amplitude_sensitivity_and_normalize_peak():
    points = random_points(seed=3)
    maps = encode_heatmaps(points, SIZE, sigma=2.0)
    half = max_error(decode_heatmaps(0.5 * maps)[0], points)
    assert 0.05 <= half <= 0.13, f"peak 0.5 should cost ~0.09 px, got {half:.4f}"
    for amplitude in (1.0, 0.5, 0.25):
        fixed = max_error(decode_heatmaps(amplitude * maps, normalize_peak=True)[0], points)
        assert fixed < 0.02, f"normalize_peak at amplitude {amplitude}: {fixed:.4f}"


# ---------------------------------------------------------------- 3. global soft-argmax
def test_global_soft_argmax_is_worse_than_argmax():
    points = random_points(seed=4)
    maps = encode_heatmaps(points, SIZE, sigma=2.0)
    global_error = (decode_heatmaps(maps, "soft_argmax", temperature=10.0)[0] - points).norm(dim=-1)
    argmax_error = (decode_heatmaps(maps, "argmax")[0] - points).norm(dim=-1)
    print(f"mean error: global soft-argmax {global_error.mean():.3f}, argmax {argmax_error.mean():.3f}")
    assert global_error.mean() > argmax_error.mean()
    assert global_error.mean() > 0.5


# ---------------------------------------------------------------- 4. rounded / bilinear encodings
def test_rounded_encoding_decodes_to_the_rounded_location():
    points = random_points(seed=5)
    decoded, _ = decode_heatmaps(encode_heatmaps(points, SIZE, sigma=2.0, encoding="rounded"))
    assert max_error(decoded, torch.round(points)) <= 0.02
    assert max_error(decoded, points) > 0.45  # the rounding error the continuous encoding removes


def test_bilinear_encoding_mean_is_the_point():
    points = random_points(seed=6)
    maps = encode_heatmaps(points, SIZE, sigma=2.0, encoding="bilinear")
    coords = torch.arange(SIZE, dtype=torch.float32)
    mass = maps.sum(dim=(-1, -2))
    mean_x = (maps.sum(-2) * coords).sum(-1) / mass
    mean_y = (maps.sum(-1) * coords).sum(-1) / mass
    assert max_error(torch.stack([mean_x, mean_y], -1), points) < 1e-3
    assert max_error(decode_heatmaps(maps)[0], points) < 0.1


def test_points_off_the_map_give_empty_maps():
    points = torch.tensor([[[-0.6, 10.0], [10.0, SIZE - 0.5], [5.0, 5.0]]])
    maps = encode_heatmaps(points, SIZE)
    assert maps[0, :2].abs().max() == 0 and maps[0, 2].max() > 0.5


# ---------------------------------------------------------------- 5. differentiability
def test_local_soft_argmax_gradcheck():
    generator = torch.Generator().manual_seed(0)
    maps = encode_heatmaps(torch.tensor([[[3.3, 2.6], [1.2, 4.7]]]), 7).double()
    maps = (maps + 0.05 * torch.rand(maps.shape, generator=generator, dtype=torch.float64)).requires_grad_()
    for normalize_peak in (False, True):
        assert torch.autograd.gradcheck(
            lambda h: decode_heatmaps(h, window=3, temperature=10.0, normalize_peak=normalize_peak)[0], (maps,)
        )


def test_local_soft_argmax_gradient_is_zero_outside_the_window():
    maps = (encode_heatmaps(torch.tensor([[[5.3, 4.8]]]), 11) + 0.01).requires_grad_()
    decode_heatmaps(maps, window=5)[0].sum().backward()
    inside = torch.zeros(11, 11, dtype=torch.bool)
    inside[3:8, 3:8] = True  # 5x5 window around the integer peak (5, 5)
    grad = maps.grad[0, 0]
    assert grad[~inside].abs().max() == 0
    assert grad[inside].abs().max() > 0


# ---------------------------------------------------------------- 6. flips
@pytest.mark.parametrize("scheme", ["ibug68", "wflw98"])
def test_flip_table_is_an_involution(scheme):
    perm = torch.tensor(FLIP_PERMUTATIONS[scheme])
    n = len(perm)
    assert n == {"ibug68": 68, "wflw98": 98}[scheme]
    assert torch.equal(perm[perm], torch.arange(n))
    assert not torch.equal(perm, torch.arange(n))


@pytest.mark.parametrize("method", ["argmax", "argmax_quarter_shift", "soft_argmax", "local_soft_argmax"])
def test_decode_commutes_with_flip(method):
    perm = FLIP_PERMUTATIONS["ibug68"]
    generator = torch.Generator().manual_seed(7)
    points = 2 + (SIZE - 5) * torch.rand(2, 68, 2, generator=generator)
    noise = 0.01 * torch.rand(2, 68, SIZE, SIZE, generator=generator, dtype=torch.float64)
    maps = encode_heatmaps(points, SIZE).double() + noise  # double: the global sum is order-sensitive in float32
    flipped = flip_heatmaps(maps, perm)
    assert torch.equal(flip_heatmaps(flipped, perm), maps)
    decoded, scores = decode_heatmaps(maps, method)
    decoded_flipped, scores_flipped = decode_heatmaps(flipped, method)
    torch.testing.assert_close(decoded_flipped, flip_points(decoded, SIZE, perm), atol=1e-5, rtol=0)
    torch.testing.assert_close(scores_flipped, scores[:, perm])


def test_flip_points_twice_is_identity():
    perm = FLIP_PERMUTATIONS["wflw98"]
    points = torch.rand(3, 98, 2) * 100
    torch.testing.assert_close(flip_points(flip_points(points, 100, perm), 100, perm), points, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- 7. warps and affine helpers
def test_warped_target_decodes_to_the_warped_point():
    generator = torch.Generator().manual_seed(8)
    errors, mses = [], []
    for _ in range(20):
        matrix = random_similarity(generator, (SIZE - 1) / 2)
        points = 22 + 20 * torch.rand(1, 10, 2, generator=generator)  # stays on the map after the warp
        target = apply_affine(matrix, points)
        warped = warp_affine(encode_heatmaps(points, SIZE, sigma=2.0), matrix, SIZE)
        errors.append(max_error(decode_heatmaps(warped)[0], target))
        mses.append(((warped - encode_heatmaps(target, SIZE, sigma=2.0)) ** 2).mean(dim=(-1, -2)).max().item())
    print(f"warp: max decode error {max(errors):.4f}, max per-map MSE {max(mses):.2e}")
    assert max(errors) < 0.1
    assert max(mses) < 1e-3


def test_rescale_matrix_maps_heatmap_coordinates():
    generator = torch.Generator().manual_seed(9)
    matrix = random_similarity(generator, 31.5, max_shift=12.0)  # crop-pixel affine on a 64x64 crop
    crop_points = 64 * torch.rand(1, 20, 2, generator=generator)
    via_crop = to_map_coords(apply_affine(matrix, crop_points), 4)
    via_map = apply_affine(rescale_matrix(matrix, 4), to_map_coords(crop_points, 4))
    torch.testing.assert_close(via_map, via_crop, atol=1e-4, rtol=0)


def test_map_coordinate_round_trip():
    points = torch.rand(2, 5, 2) * 256
    torch.testing.assert_close(from_map_coords(to_map_coords(points, 4), 4), points)
    assert to_map_coords(torch.tensor([1.5]), 4).item() == 0.0  # centre of the first 4x4 cell -> map pixel 0


def test_affine_compose_and_invert():
    generator = torch.Generator().manual_seed(10)
    a, b = random_similarity(generator, 10.0), random_similarity(generator, 20.0)
    points = 50 * torch.rand(1, 7, 2, generator=generator)
    identity = torch.eye(2, 3)[None]
    torch.testing.assert_close(compose_affine(a, invert_affine(a)), identity, atol=1e-5, rtol=0)
    torch.testing.assert_close(compose_affine(invert_affine(a), a), identity, atol=1e-5, rtol=0)
    torch.testing.assert_close(apply_affine(compose_affine(a, b), points), apply_affine(a, apply_affine(b, points)))
    torch.testing.assert_close(apply_affine(invert_affine(a), apply_affine(a, points)), points, atol=1e-4, rtol=0)


def test_bad_inputs_raise_value_errors():
    points = torch.rand(1, 3, 2)
    maps = torch.rand(1, 3, 8, 8)
    cases = [
        (lambda: encode_heatmaps(points, 8, encoding="gaussian"), "encoding"),
        (lambda: encode_heatmaps(points[0], 8), "points"),
        (lambda: decode_heatmaps(maps, method="mean"), "method"),
        (lambda: decode_heatmaps(maps[0]), "heatmaps"),
        (lambda: decode_heatmaps(maps, window=4), "window"),
        (lambda: decode_heatmaps(maps, window=0), "window"),
    ]
    for call, fragment in cases:
        with pytest.raises(ValueError, match=fragment):
            call()
