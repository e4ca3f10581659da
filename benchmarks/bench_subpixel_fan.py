"""SH-FAN benchmarks: heatmap decoding error and pipeline throughput on the CPU (run by hand: `make bench`).

1. Decode error table: 4 decoders x {continuous, rounded} encoding, 2000 random sub-pixel points on 64x64 maps.
2. Pipeline images/s at batch 1, 8, 32 (one face per image, 256x256 crops, FAN-4 or --tiny), batched vs one by one.
"""

import argparse
import os
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def decode_table(num_points: int = 2000, sigma: float = 2.0, seed: int = 0) -> list[tuple]:
    from hfvid.modules.heatmaps import DECODE_METHODS, decode_heatmaps, encode_heatmaps

    generator = torch.Generator().manual_seed(seed)
    points = torch.rand(1, num_points, 2, generator=generator) * 52 + 6  # away from the borders
    rows = []
    for encoding in ("continuous", "rounded"):
        heatmaps = encode_heatmaps(points, 64, sigma, encoding)
        for method in DECODE_METHODS:
            decoded, _ = decode_heatmaps(heatmaps, method)
            error = (decoded - points).norm(dim=-1)
            rows.append((encoding, method, error.mean().item(), error.max().item()))
    return rows


def pipeline_throughput(tiny: bool, batch_sizes=(1, 8, 32), num_images: int = 32) -> list[tuple]:
    import tempfile

    from transformers import pipeline

    import hfvid  # noqa: F401
    from hfvid.data.synthetic import synthetic_faces
    from hfvid.models.subpixel_fan import (
        FaceAlignmentImageProcessor,
        SubpixelFANConfig,
        SubpixelFANForFacialLandmarkDetection,
    )

    kwargs = dict(num_stacks=1, hidden_size=64, hourglass_depth=2, image_size=64, heatmap_size=16) if tiny else {}
    config = SubpixelFANConfig(**kwargs)
    folder = tempfile.mkdtemp()
    SubpixelFANForFacialLandmarkDetection(config).save_pretrained(folder)
    FaceAlignmentImageProcessor(crop_size=config.image_size).save_pretrained(folder)
    pipe = pipeline("hfvid-facial-landmarks", model=folder, device="cpu")
    faces = synthetic_faces(num_images, image_size=256, seed=1)
    images = [face["image"] for face in faces]
    boxes = [[face["box"].tolist()] for face in faces]
    pipe(images[:2], boxes=boxes[:2])  # warm-up
    rows = []
    for batch_size in batch_sizes:
        start = time.perf_counter()
        pipe(images, boxes=boxes, batch_size=batch_size, flip_test=False)
        batched = num_images / (time.perf_counter() - start)
        rows.append((batch_size, batched))
    start = time.perf_counter()
    for image, box in zip(images, boxes):
        pipe(image, boxes=box, flip_test=False)
    one_by_one = num_images / (time.perf_counter() - start)
    return rows + [("one call per image", one_by_one)]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="benchmark a tiny FAN instead of FAN-4 (256 px)")
    parser.add_argument("--num_images", type=int, default=32)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| encoding | decoder | mean error (hm px) | max error (hm px) |\n|---|---|---|---|")
    for encoding, method, mean, worst in decode_table():
        print(f"| {encoding} | {method} | {mean:.4f} | {worst:.4f} |")
    print(f"\n| batch size | images/s ({'tiny FAN, 64 px' if args.tiny else 'FAN-4, 256 px'}) |\n|---|---|")
    for batch_size, rate in pipeline_throughput(args.tiny, num_images=args.num_images):
        print(f"| {batch_size} | {rate:.2f} |")


if __name__ == "__main__":
    main()
