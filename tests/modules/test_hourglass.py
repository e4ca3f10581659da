"""FAN's inference path (in place, folded BatchNorms, broadcast upsampling) equals the plain functional path."""

import copy

import pytest
import torch
import torch.nn.functional as F

from hfvid.modules.hourglass import FAN, add_upsampled_, conv_norm_relu


def randomised(norm_type: str, seed: int = 0) -> FAN:
    """A small FAN (2 stacks, depth 2) with random weights and random normalisation statistics, in eval mode."""
    torch.manual_seed(seed)
    net = FAN(num_landmarks=5, num_stacks=2, hourglass_depth=2, hidden_size=32, stem_channels=16, norm_type=norm_type)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return net.eval()


def plain_and_fast(net: FAN, pixels: torch.Tensor):
    plain = net(pixels)  # autograd on: the functional reference path
    with torch.no_grad():
        fast = net(pixels)
    return plain, fast


@pytest.mark.parametrize("norm_type", ["batch", "group"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_path_equals_plain_path(norm_type, channels_last):
    net = randomised(norm_type)
    pixels = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    if channels_last:
        pixels = pixels.contiguous(memory_format=torch.channels_last)
    (plain_features, plain_maps), (features, maps) = plain_and_fast(net, pixels)
    assert plain_features.requires_grad and not features.requires_grad  # the two paths really differ
    torch.testing.assert_close(features, plain_features.detach(), rtol=0, atol=1e-5)
    assert len(maps) == len(plain_maps) == 2
    for fast, plain in zip(maps, plain_maps):
        torch.testing.assert_close(fast, plain.detach(), rtol=0, atol=1e-5)


def test_inference_leaves_weights_and_training_untouched():
    net = randomised("batch")
    before = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        net(torch.rand(2, 3, 64, 64))
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key  # folding happens on the fly, never in the weights
    net.train()
    features, maps = net(torch.rand(2, 3, 64, 64))
    maps[-1].sum().backward()
    assert net.bn1.num_batches_tracked.item() == 1 and net.conv1.weight.grad is not None  # train mode: plain path
    with torch.no_grad():  # train mode without autograd still uses batch statistics (the plain path)
        net(torch.rand(2, 3, 64, 64))
    assert net.bn1.num_batches_tracked.item() == 2


def test_eval_with_autograd_keeps_gradients():
    """Eval mode with gradients on (e.g. input attributions) takes the plain path and differentiates."""
    net = randomised("batch")
    pixels = torch.rand(1, 3, 64, 64, requires_grad=True)
    net(pixels)[1][-1].sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0


def test_folded_conv_norm_relu_and_broadcast_upsampling():
    torch.manual_seed(0)
    conv, norm = torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.BatchNorm2d(6)
    with torch.no_grad():
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.2, 3)
        norm.weight.uniform_(-1, 2)
    norm.eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(conv_norm_relu(conv, norm, x), F.relu(norm(conv(x))), rtol=0, atol=1e-5)
        upper, lower = torch.randn(2, 3, 8, 6), torch.randn(2, 3, 4, 3)
        expected = upper + F.interpolate(lower, scale_factor=2, mode="nearest")
        assert torch.equal(add_upsampled_(upper.clone(), lower), expected)
        channels_last = upper.contiguous(memory_format=torch.channels_last)
        assert torch.equal(add_upsampled_(channels_last, lower), expected)


def test_bfloat16_inference_runs_close_to_float32():
    """The half-precision option (meant for GPUs) on the CPU: same path, bfloat16 rounding only."""
    net = randomised("batch")
    pixels = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = net(pixels)[1][-1]
        half = copy.deepcopy(net).to(torch.bfloat16)(pixels.to(torch.bfloat16))[1][-1]
    assert half.dtype == torch.bfloat16
    assert (half.float() - reference).abs().max() < 0.05 * reference.abs().max()
