#!/usr/bin/env python
"""Clips/s of single-stage BMViT vs a two-stage baseline (person detector + MViTv2 RoI head), same backbone, CPU.

    python benchmarks/bench_bmvit.py                      # MViTv2-S, 16 x 224 x 224 clips, 360p source frames
    python benchmarks/bench_bmvit.py --small              # a narrower MViTv2 on 8 x 160 x 160 (quick look)

Two-stage = torchvision Faster R-CNN R50-FPN on the keyframe at source resolution (random weights: speed only; a
fixed 10 boxes per keyframe) + the same MViTv2 on the clip + RoIAlign on the time-averaged last feature map + a
linear action head (as PySlowFast's AVA models). Single stage = BMViT (backbone + MLP heads on pooled tokens).
Also prints GFLOPs per view (torch's FlopCounterMode). Run on an otherwise idle machine for meaningful numbers.
"""

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.detection import fasterrcnn_resnet50_fpn
from torchvision.ops import roi_align

import hfvid  # noqa: F401
from hfvid.models.bmvit import BMViTConfig, BMViTForActionLocalization
from hfvid.models.mvitv2 import MViTv2Config, MViTv2Model, tokens_to_grid

SMALL = dict(image_size=[160, 160], num_frames=8, embed_dim=48, num_heads=[1, 2, 2, 4, 4],
             output_channels=[48, 96, 96, 192, 192], stride_q=[[1, 1, 1], [1, 2, 2], [1, 1, 1], [1, 2, 2], [1, 1, 1]],
             stride_kv=[[1, 8, 8], [1, 4, 4], [1, 4, 4], [1, 2, 2], [1, 1, 1]])


class TwoStage(torch.nn.Module):
    """Person detector on the keyframe, then MViTv2 features pooled in each box (RoIAlign) -> action logits."""

    def __init__(self, backbone_config: MViTv2Config, num_actions: int = 80, source_size=(360, 640)):
        super().__init__()
        self.detector = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=source_size[0],
                                                max_size=source_size[1], box_score_thresh=0.0,
                                                box_detections_per_img=10).eval()
        self.backbone = MViTv2Model(backbone_config)
        self.head = torch.nn.Linear(backbone_config.hidden_size, num_actions)

    def forward(self, keyframes, clips):
        detections = self.detector(list(keyframes))
        height, width = keyframes.shape[-2:]
        boxes = []
        for found in detections:  # random weights may find fewer than 10: pad with whole-frame boxes
            b = found["boxes"][:10] / torch.tensor([width, height, width, height])
            boxes.append(torch.cat([b, torch.tensor([[0.0, 0.0, 1.0, 1.0]]).repeat(10 - len(b), 1)]))
        out = self.backbone(clips)
        grid = tokens_to_grid(out.last_hidden_state, out.token_grid).mean(2)  # (B, C, H', W')
        scale = torch.tensor([grid.shape[-1], grid.shape[-2]] * 2, dtype=grid.dtype)
        pooled = roi_align(grid, [b * scale for b in boxes], output_size=7, aligned=True).amax((-2, -1))
        return self.head(pooled).sigmoid()


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def gflops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a narrower MViTv2 on 8 x 160 x 160 clips")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backbone = MViTv2Config(**(SMALL if args.small else {}), stochastic_depth_prob=0.0)
    single = BMViTForActionLocalization(BMViTConfig(backbone_config=backbone.to_dict())).eval()
    two = TwoStage(backbone).eval()
    height, width = backbone.image_size
    clips = torch.randn(args.batch_size, backbone.num_frames, 3, height, width)
    keyframes = torch.rand(args.batch_size, 3, 360, 640)
    with torch.no_grad():
        single_fn, two_fn = (lambda: single(clips)), (lambda: two(keyframes, clips))
        single_s, two_s = timed(single_fn, args.repeats), timed(two_fn, args.repeats)
        single_gf, two_gf = gflops(single_fn) / args.batch_size, gflops(two_fn) / args.batch_size
        detector_gf = gflops(lambda: two.detector(list(keyframes))) / args.batch_size
    name = "small MViTv2" if args.small else "MViTv2-S"
    print(f"backbone {name}, clip {backbone.num_frames}x{height}x{width}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads")
    print("| model | clips/s | GFLOPs/view |\n|---|---|---|")
    print(f"| BMViT (single stage) | {args.batch_size / single_s:.3f} | {single_gf:.1f} |")
    print(f"| Faster R-CNN R50-FPN + MViTv2 RoI head (two stage) | {args.batch_size / two_s:.3f} | {two_gf:.1f} "
          f"(detector {detector_gf:.1f}) |")
    print(f"speed-up of the single-stage model: {two_s / single_s:.2f}x")


if __name__ == "__main__":
    main()
