#!/usr/bin/env python
"""Keypoints-to-Landmarks speed: k-means on 100k x 256 descriptors (torch vs scikit-learn when installed) and
images/s of the `hfvid-unsupervised-landmarks` pipeline (paper-size and tiny models).

    python benchmarks/bench_keypoints_to_landmarks.py [--points 100000] [--dim 256] [--clusters 100]
"""

import argparse
import tempfile
import time

import numpy as np
import torch


def bench_clustering(points: int, dim: int, clusters: int, iterations: int) -> dict:
    from hfvid.clustering import assign_unique, kmeans

    rng = np.random.default_rng(0)
    data = rng.normal(size=(points, dim)).astype(np.float32)
    out = {}
    start = time.perf_counter()
    centroids, _ = kmeans(data, clusters, n_init=1, max_iter=iterations, seed=0)
    out["torch_kmeans_s"] = time.perf_counter() - start
    start = time.perf_counter()
    assign_unique(np.repeat(np.arange(points // 20), 20)[:points], data, centroids)
    out["assign_unique_s"] = time.perf_counter() - start
    try:
        import sklearn  # noqa: F401
    except ImportError:
        out["sklearn_kmeans_s"] = "scikit-learn not installed"
    else:
        start = time.perf_counter()
        kmeans(data, clusters, n_init=1, max_iter=iterations, seed=0, backend="sklearn")
        out["sklearn_kmeans_s"] = time.perf_counter() - start
    return out


def bench_pipeline(config_kwargs: dict, crop: int, images: int, batch_size: int) -> float:
    from transformers import pipeline

    import hfvid  # noqa: F401
    from hfvid import KeypointsToLandmarksConfig, KeypointsToLandmarksForLandmarkDetection, KeypointsToLandmarksImageProcessor

    with tempfile.TemporaryDirectory() as folder:
        config = KeypointsToLandmarksConfig(flip_permutation=list(range(config_kwargs.get("num_landmarks", 10))),
                                            **config_kwargs)
        KeypointsToLandmarksForLandmarkDetection(config).save_pretrained(folder)
        KeypointsToLandmarksImageProcessor(crop_size=config.image_size).save_pretrained(folder)
        pipe = pipeline("hfvid-unsupervised-landmarks", model=folder, device="cpu")
        frames = [np.random.default_rng(i).integers(0, 255, (crop, crop, 3), dtype=np.uint8) for i in range(images)]
        pipe(frames[:batch_size], batch_size=batch_size, face_detector="full_image")  # warm-up
        start = time.perf_counter()
        pipe(frames, batch_size=batch_size, face_detector="full_image")  # frames are object crops
        return images / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--images", type=int, default=8)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    clustering = bench_clustering(args.points, args.dim, args.clusters, args.iterations)
    print(f"k-means {args.points} x {args.dim} -> {args.clusters} clusters, {args.iterations} Lloyd iterations, "
          f"1 restart: {clustering}")
    paper = bench_pipeline({}, 256, args.images, 4)
    print(f"pipeline, paper-size model (256 px, FAN 256, flip test): {paper:.2f} images/s")
    tiny = dict(num_landmarks=5, num_clusters=10, hidden_size=32, stem_channels=16, hourglass_depth=2,
                image_size=64, heatmap_size=16, descriptor_dim=32, num_groups=8)
    print(f"pipeline, tiny quickstart model (64 px, flip test): {bench_pipeline(tiny, 64, 64, 32):.2f} images/s")


if __name__ == "__main__":
    main()
