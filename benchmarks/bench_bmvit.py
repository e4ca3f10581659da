#!/usr/bin/env python
"""Clips/s of single-stage BMViT vs a two-stage baseline (person detector + MViTv2 RoI head), same backbone, CPU.

    python benchmarks/bench_bmvit.py                      # MViTv2-S, 16 x 224 x 224 clips, 360p source frames
    python benchmarks/bench_bmvit.py --small              # a narrower MViTv2 on 8 x 160 x 160 (quick look)

Single stage = BMViT (`BMViTConfig()`: backbone + MLP heads on pooled tokens). Two stage = the same model class with
`BMViTConfig(localization="two_stage")`: the same MViTv2 on the clip + RoIAlign on the time-averaged last feature
map + LayerNorm + a linear action head (as PySlowFast's AVA models), timed (a) on 10 given boxes per keyframe
(backbone + RoI head only) and (b) after a person detector: torchvision Faster R-CNN R50-FPN on the keyframe at
source resolution 360x640 (random weights: speed only; its top 10 boxes, padded with whole-frame boxes, are
classified). Prints clips/s, GFLOPs per view (torch's FlopCounterMode) and the speed ratios. The accuracy side of
the table (frame-mAP of both after the same training) is `training_scripts/compare_bmvit_two_stage.py`.

Measured 2026-12-03 (`--threads 1 --repeats 5`, batch 1, on a shared 2-core CPU under load ~7-9 from other jobs, so
absolute clips/s are low and noisy; the GFLOPs are exact and the ratios are the informative part):

| MViTv2-S 16x224x224 | clips/s | GFLOPs/view |
|---|---|---|
| BMViT (single stage) | 0.126 | 128.6 |
| two stage, given boxes (MViTv2 + RoIAlign head only) | 0.125 | 128.4 |
| person detector alone (Faster R-CNN R50-FPN, 360x640 keyframe) | 0.238 | 113.7 |
| two stage with the detector | 0.083 | 242.2 |

speed ratio single stage / two stage: 1.01x on given boxes (the same backbone; the heads cost nothing), 1.51x with
the detector (1.88x in GFLOPs). The paper's speed numbers were not available (spec section 6).
"""

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.detection import fasterrcnn_resnet50_fpn

import hfvid  # noqa: F401
from hfvid.models.bmvit import BMViTConfig, BMViTForActionLocalization, BMViTVideoProcessor
from hfvid.models.mvitv2 import MViTv2Config
from hfvid.quickstart import load_training_script

# the interleaved median timer of the single- vs two-stage comparison script, shared rather than copied
timed = load_training_script("compare_bmvit_two_stage").median_seconds

SMALL = dict(image_size=[160, 160], num_frames=8, embed_dim=48, num_heads=[1, 2, 2, 4, 4],
             output_channels=[48, 96, 96, 192, 192], stride_q=[[1, 1, 1], [1, 2, 2], [1, 1, 1], [1, 2, 2], [1, 1, 1]],
             stride_kv=[[1, 8, 8], [1, 4, 4], [1, 4, 4], [1, 2, 2], [1, 1, 1]])


class DetectThenClassify(torch.nn.Module):
    """Person detector on the keyframe, then the two-stage BMViT (RoIAlign on the boxes) on the clip."""

    def __init__(self, two_stage: BMViTForActionLocalization, source_size=(360, 640), boxes_per_keyframe: int = 10):
        super().__init__()
        self.detector = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=source_size[0],
                                                max_size=source_size[1], box_score_thresh=0.0,
                                                box_detections_per_img=boxes_per_keyframe).eval()
        self.two_stage = two_stage
        self.boxes_per_keyframe = boxes_per_keyframe

    def forward(self, keyframes, clips):
        detections = self.detector(list(keyframes))
        height, width = keyframes.shape[-2:]
        boxes = []
        for found in detections:  # random weights may find fewer: pad with whole-frame boxes
            b = (found["boxes"][: self.boxes_per_keyframe] / torch.tensor([width, height, width, height])).clamp(0, 1)
            b = b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]
            whole = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).repeat(self.boxes_per_keyframe - len(b), 1)
            boxes.append(torch.cat([b, whole]))
        person_boxes, person_scores = BMViTVideoProcessor.person_box_inputs(boxes)
        return self.two_stage(pixel_values=clips, person_boxes=person_boxes, person_scores=person_scores)


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
    torch.manual_seed(0)
    two = BMViTForActionLocalization(BMViTConfig(backbone_config=backbone.to_dict(), localization="two_stage")).eval()
    pipeline = DetectThenClassify(two).eval()
    height, width = backbone.image_size
    clips = torch.randn(args.batch_size, backbone.num_frames, 3, height, width)
    keyframes = torch.rand(args.batch_size, 3, 360, 640)
    given, scores = BMViTVideoProcessor.person_box_inputs(
        [torch.tensor([[0.1, 0.1, 0.4, 0.9]]).repeat(10, 1) for _ in range(args.batch_size)])
    with torch.no_grad():
        runs = {
            "single": lambda: single(clips),
            "two_given": lambda: two(pixel_values=clips, person_boxes=given, person_scores=scores),
            "detector": lambda: pipeline.detector(list(keyframes)),
            "two_detected": lambda: pipeline(keyframes, clips),
        }
        seconds = timed(runs, args.repeats)
        flops = {name: gflops(fn) / args.batch_size for name, fn in runs.items()}
    rate = {name: args.batch_size / s for name, s in seconds.items()}
    name = "small MViTv2" if args.small else "MViTv2-S"
    print(f"backbone {name}, clip {backbone.num_frames}x{height}x{width}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, 10 boxes per keyframe")
    print("| model | clips/s | GFLOPs/view |\n|---|---|---|")
    print(f"| BMViT (single stage) | {rate['single']:.3f} | {flops['single']:.1f} |")
    print(f"| two stage, given boxes (MViTv2 + RoIAlign head only) | {rate['two_given']:.3f} | "
          f"{flops['two_given']:.1f} |")
    print(f"| person detector alone (Faster R-CNN R50-FPN, 360x640 keyframe) | {rate['detector']:.3f} | "
          f"{flops['detector']:.1f} |")
    print(f"| two stage with the detector | {rate['two_detected']:.3f} | {flops['two_detected']:.1f} |")
    print(f"speed ratio single stage / two stage on given boxes: {seconds['two_given'] / seconds['single']:.2f}x")
    print(f"speed ratio single stage / two stage with the detector: {seconds['two_detected'] / seconds['single']:.2f}x")


if __name__ == "__main__":
    main()
