"""The released-generator converter against a randomly initialised port of the official `model.py` Generator."""

import math

import pytest
import torch
from torch import nn

from hfvid.models.gannotation.convert_gannotation_original_to_hfvid import (
    convert,
    convert_gannotation_state_dict,
    load_converted_generator,
)
from hfvid.models.gannotation.landmark_maps import render_legacy_heatmaps


class ReferenceResidualBlock(nn.Module):  # official ResidualBlock (names conv1/bn1/prelu/conv2/bn2)
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.InstanceNorm2d(channels)
        self.prelu = nn.LeakyReLU(0.2)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.InstanceNorm2d(channels)

    def forward(self, x):
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class ReferenceGenerator(nn.Module):
    """The official FG 2020 Generator(conv_dim, c_dim, repeat_num), as described in the spec (section 3.1)."""

    def __init__(self, conv_dim=64, c_dim=66, repeat_num=6):
        super().__init__()
        layers = [nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False), nn.InstanceNorm2d(conv_dim, affine=True),
                  nn.LeakyReLU(0.2)]
        dim = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), nn.InstanceNorm2d(dim * 2, affine=True),
                       nn.LeakyReLU(0.2)]
            dim *= 2
        self.down_conv = nn.Sequential(*layers)
        self.bottleneck = nn.Sequential(*[ReferenceResidualBlock(dim) for _ in range(repeat_num)])
        layers = []
        for _ in range(2):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), nn.InstanceNorm2d(dim // 2, affine=True),
                       nn.LeakyReLU(0.2)]
            dim //= 2
        self.feature_layer = nn.Sequential(*layers)
        self.colour_layer = nn.Sequential(nn.Conv2d(dim, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.mask_layer = nn.Sequential(nn.Conv2d(dim, 1, 7, 1, 3, bias=False), nn.Sigmoid())

    def forward(self, x):
        features = self.feature_layer(self.bottleneck(self.down_conv(x)))
        colour, mask = self.colour_layer(features), self.mask_layer(features)
        return mask * (x[:, :3] - colour) + colour


pytestmark = pytest.mark.usefixtures("one_thread")


def _randomised_reference(**kwargs) -> ReferenceGenerator:
    torch.manual_seed(0)
    reference = ReferenceGenerator(**kwargs).eval()
    with torch.no_grad():  # affine IN parameters away from 1/0 so a wrong mapping shows
        for name, param in reference.named_parameters():
            param.add_(torch.randn_like(param) * (0.1 if param.ndim == 1 else 0.02))
    return reference


def test_converted_generator_matches_reference(tmp_path):
    reference = _randomised_reference(conv_dim=8, c_dim=66, repeat_num=2)
    released = {"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}
    config, state_dict = convert_gannotation_state_dict(released, image_size=128)
    assert (config.num_landmarks, config.base_channels, config.num_res_blocks, config.num_downsamples) == (66, 8, 2, 2)
    assert config.input_range == "0_1" and config.landmark_encoding == "legacy_heatmap"
    generator = load_converted_generator(config, state_dict)

    image = torch.rand(2, 3, 128, 128)  # the legacy range: [0, 1]
    points = torch.rand(2, 66, 2) * 110 + 8
    maps = render_legacy_heatmaps(points, 128)
    with torch.no_grad():
        expected = reference(torch.cat([image, maps], 1))
        ours = generator(image, target_landmarks=points).sample
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)

    torch.save(released, tmp_path / "myGEN.pth")
    convert(tmp_path / "myGEN.pth", tmp_path / "converted", image_size=128)
    assert (tmp_path / "converted" / "model_index.json").is_file()
    card = (tmp_path / "converted" / "README.md").read_text()
    assert "cc-by-nc-4.0" in card and "Converted weights" in card


def test_mismatched_state_dicts_are_refused():
    reference = _randomised_reference(conv_dim=4, c_dim=5, repeat_num=1)
    state = reference.state_dict()
    config, converted = convert_gannotation_state_dict(state)
    converted.pop("bottleneck.0.conv2.bias")
    with pytest.raises(ValueError, match="missing keys"):
        load_converted_generator(config, converted)
    with pytest.raises(ValueError, match="not a GANnotation generator"):
        convert_gannotation_state_dict({"conv.weight": torch.zeros(1)})
    assert math.isclose(config.heatmap_sigma, 1.75)
