#!/usr/bin/env python
"""FRL benchmarks (run by hand): SwAV pre-training throughput with 2+6 multi-crop at batch 32 on the CPU, and the
wall time of the few-shot harness for one task x 3 fractions x 3 seeds on synthetic data.

    python benchmarks/bench_face_pretraining.py [--size small|resnet50] [--crop_sizes 96 48]
"""

import argparse
import tempfile
import time

import torch

from hfvid import FaceRepresentationConfig, FaceRepresentationForSwAVPreTraining, FaceRepresentationModel
from hfvid.models.face_pretraining.benchmark import run_benchmark
from hfvid.models.face_pretraining.head_training import HeadTrainingConfig


def pretraining_images_per_second(config, batch_size: int = 32, steps: int = 3) -> float:
    model = FaceRepresentationForSwAVPreTraining(config).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    crops = [torch.randn(batch_size, 3, size, size)
             for size, count in zip(config.crop_sizes, config.num_crops) for _ in range(count)]
    model.normalize_prototypes()
    model(crops).loss.backward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        model.normalize_prototypes()
        loss = model(crops).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=["small", "resnet50"], default="small")
    parser.add_argument("--crop_sizes", type=int, nargs=2, default=(96, 48))
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.size == "resnet50":
        config = FaceRepresentationConfig(crop_sizes=list(args.crop_sizes), num_crops=[2, 6])
    else:
        config = FaceRepresentationConfig(embedding_size=16, hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1],
                                          layer_type="basic", crop_sizes=list(args.crop_sizes), num_crops=[2, 6],
                                          projection_hidden_size=256, projection_dim=64, num_prototypes=300)
    rate = pretraining_images_per_second(config)
    print(f"SwAV pre-training ({args.size}, batch 32, 2x{args.crop_sizes[0]} + 6x{args.crop_sizes[1]} crops, "
          f"{torch.get_num_threads()} threads): {rate:.1f} images/s")

    backbone = FaceRepresentationModel(FaceRepresentationConfig(
        embedding_size=8, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", image_size=64))
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_benchmark(backbone, ["expression"], fractions=[1.0, 0.1, 0.01], seeds=[0, 1, 2], protocol="linear",
                      output_dir=folder, training=HeadTrainingConfig(max_steps=100), train_size=256,
                      test_size=64)
        linear = time.perf_counter() - start
        start = time.perf_counter()
        run_benchmark(backbone, ["expression"], fractions=[1.0, 0.1, 0.01], seeds=[0, 1, 2], protocol="finetune",
                      output_dir=folder, training=HeadTrainingConfig(max_steps=100), train_size=256,
                      test_size=64)
        finetune = time.perf_counter() - start
    print(f"harness, expression x 3 fractions x 3 seeds, 100 steps, 256 train / 64 test synthetic faces at 64 px: "
          f"linear {linear:.1f} s, finetune {finetune:.1f} s")


if __name__ == "__main__":
    main()
