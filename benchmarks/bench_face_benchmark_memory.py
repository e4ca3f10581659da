#!/usr/bin/env python
"""Peak memory of the FRL benchmark's data path against the number of images (issue 16: flat in dataset size).

Writes an AffectNet-style dataset of N face images (JPEG, `--image_size` pixels, native size far above the crop) and
runs the expression task once in a fresh process per size (linear protocol, a few head steps; every training image
still streams through the feature-statistics pass and every test image through evaluation), reporting the child's
peak RSS. Loading every image at native size into one tensor (the old harness) grows by N x H x W x 3 bytes.

    python benchmarks/bench_face_benchmark_memory.py [--sizes 200 800] [--image_size 384]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def write_dataset(root: Path, num_images: int, image_size: int) -> None:
    import numpy as np
    from PIL import Image

    from hfvid.data.formats.affectnet import write_affectnet_csv

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(num_images):
        image = rng.integers(0, 255, (image_size, image_size, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "images" / f"{i}.jpg", quality=70)
        rows.append({"relative_path": f"images/{i}.jpg", "box": [image_size * 0.2, image_size * 0.2, image_size * 0.8,
                                                                  image_size * 0.8],
                     "label": i % 8, "valence": 0.1, "arousal": -0.1})
    split = max(8, num_images // 5)
    write_affectnet_csv(root / "training.csv", rows[split:])
    write_affectnet_csv(root / "validation.csv", rows[:split])


def child(root: str) -> None:
    """Run the benchmark on the dataset at ``root`` and print the peak RSS (MiB) as JSON."""
    import torch

    from hfvid import FaceRepresentationConfig, FaceRepresentationModel
    from hfvid.models.face_pretraining.benchmark import run_benchmark
    from hfvid.models.face_pretraining.head_training import HeadTrainingConfig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    backbone = FaceRepresentationModel(FaceRepresentationConfig(
        embedding_size=8, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic", image_size=64))
    with tempfile.TemporaryDirectory() as out:
        result = run_benchmark(backbone, ["expression"], fractions=[1.0], seeds=[0], protocol="linear",
                               output_dir=out, dataset_format="affectnet", data_dir=root,
                               training=HeadTrainingConfig(max_steps=3, batch_size=16, eval_batch_size=32))
    run = result["runs"][0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"num_train": run["num_train"], "num_test": run["num_test"], "peak_rss_mib": peak}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 800])
    parser.add_argument("--image_size", type=int, default=384)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            write_dataset(Path(folder), size, args.image_size)
            out = subprocess.run([sys.executable, __file__, "--child", folder], capture_output=True, text=True,
                                 check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            native = size * args.image_size**2 * 3 / 2**20
            print(f"{size} images of {args.image_size}x{args.image_size} ({native:.0f} MiB decoded): "
                  f"peak RSS {row['peak_rss_mib']:.0f} MiB (train {row['num_train']}, test {row['num_test']})")
            results.append(row["peak_rss_mib"])
    print(f"peak RSS growth {results[-1] - results[0]:+.0f} MiB for {args.sizes[-1] / args.sizes[0]:.0f}x the images")


if __name__ == "__main__":
    main()
