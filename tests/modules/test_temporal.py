"""Shared temporal blocks: frame encoder, GRU streaming, masked mean, window stitching."""

import numpy as np
import torch
from transformers import ResNetConfig

from hfvid.modules.temporal import FrameEncoder, SlidingWindowStitcher, TemporalModule, masked_mean, window_starts


def test_frame_encoder_shapes_and_mask():
    encoder = FrameEncoder(ResNetConfig(embedding_size=8, hidden_sizes=[16], depths=[1], layer_type="basic"), 3)
    features, predictions = encoder(torch.rand(2, 5, 3, 32, 32), torch.tensor([[1, 1, 1, 0, 0], [1] * 5]).bool())
    assert features.shape == (2, 5, 16) and predictions.shape == (2, 5, 3)
    assert features[0, 3:].abs().sum() == 0


def test_gru_chunked_streaming_equals_one_pass_and_is_causal():
    torch.manual_seed(0)
    module = TemporalModule("gru", 4, 8).eval()
    x = torch.randn(2, 10, 4)
    full, _ = module(x, torch.ones(2, 10, dtype=torch.bool))
    first, state = module(x[:, :6], torch.ones(2, 6, dtype=torch.bool))
    second, _ = module(x[:, 6:], torch.ones(2, 4, dtype=torch.bool), state)
    torch.testing.assert_close(torch.cat([first, second], 1), full, atol=1e-5, rtol=1e-5)
    changed = x.clone()
    changed[:, 7:] += 1
    assert torch.equal(module(changed)[0][:, :7], module(x)[0][:, :7])


def test_masked_mean_ignores_nan_padding():
    values = torch.tensor([[[1.0], [3.0], [float("nan")]]], requires_grad=True)
    mask = torch.tensor([[True, True, False]])
    mean = masked_mean(values, mask)
    mean.sum().backward()
    assert mean.item() == 2.0 and torch.isfinite(values.grad).all()
    assert masked_mean(values, torch.zeros_like(mask)).item() == 0.0


def test_stitcher_covers_every_frame_once_and_averages_overlaps():
    calls = []

    def run(items):
        calls.append(list(items))
        return np.full((len(items), 1), float(len(calls)))

    stitcher = SlidingWindowStitcher(128, 64, run)
    rows = [row for t in range(300) for row in stitcher.push(t)] + stitcher.flush()
    assert [i for i, _ in rows] == list(range(300))
    assert [(c[0], c[-1] + 1) for c in calls] == window_starts(300, 128, 64) == [(0, 128), (64, 192), (128, 256),
                                                                                 (192, 300)]
    values = dict(rows)
    assert values[10][0] == 1.0  # covered by the first window only: that window's output
    assert values[100][0] == 1.5  # windows 1 and 2 averaged
    assert values[299][0] == 4.0
