#!/usr/bin/env python
"""Keypoints-to-Landmarks at dataset scale: working memory of the keypoint outlier removal and of k-means, flat in
the number of descriptors (issue 16), against the previous implementations at the sizes where they still fit.

    python benchmarks/bench_keypoint_scale.py [--sizes 20000 80000 200000] [--dim 128] [--device cpu|cuda]
                                              [--old_up_to 80000] [--threads 1]

Every (method, size) runs in a fresh subprocess on random unit descriptors (N x dim float32). Reported: wall time,
and the working memory = peak minus the memory held once the descriptors exist (CPU: peak RSS ``ru_maxrss`` minus
the RSS before the call; CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation before the call), so the
descriptors themselves (N x dim x 4 bytes, the input) are not counted.

* ``outliers``: ``remove_outliers(fraction=0.4, neighbors=100, chunk_size=4096)``, the exact chunked running top-k.
* ``outliers_old``: the previous code, ``cdist`` of 4096 queries against all N descriptors + ``topk`` (working memory
  4096 x N distances = 16 KB per descriptor, about twice that with cdist's temporaries).
* ``kmeans``: ``kmeans(K=100, n_init=1, max_iter=5, chunk_size=4096)``; ``kmeans_old``: the previous unchunked one
  (``cdist`` of all N points to the K centres every iteration: N x K distances).

Measured 2026-12-03 on the shared 2-core CPU box (23 GB RAM, 8 helpers working: load average 5-10 during the run,
so the seconds are noisy), torch 2.14.1, 1 thread, CPU, dim 128; working memory in MB (seconds):

| method | N = 20,000 | N = 80,000 | N = 200,000 |
|---|---|---|---|
| outliers (chunked running top-k) | 48 (14 s) | 126 (241 s) | 98 (1301 s) |
| outliers_old (4096 x N cdist) | 654 (8 s) | 2,549 (111 s) | not run (~6.4 GB by the trend) |
| kmeans (chunked, K = 100, 5 Lloyd iterations) | 65 (0.7 s) | 39 (2.8 s) | 81 (12.9 s) |
| kmeans_old (N x K cdist) | 542 (1.2 s) | 139 (19.3 s) | not run |

The chunked paths stay near 100 MB (bounded: one 512 x 32,768 block of distances and the top-k merge, reached at
N >= 32,768; below it the block is N wide, hence the smaller 20k number; the rest is allocator noise), while the
old outlier search grows by ~32 KB per descriptor (~320 GB at CelebA's ~10M SuperPoint keypoints). Both searches do
the same N^2 work: run back to back at N = 40,000 the chunked one took 34.0 s and the old one 37.6 s (the seconds in
the table were taken at different loads). The kmeans_old RSS peaks are not monotonic (542 MB at 20k, 139 MB at
80k: short-lived buffers, allocator-dependent); what grows with N there is its N x K distance buffers (31 MB at 80k,
640 MB for the 1.6M descriptors + mirrors one correspondence recovery clusters).
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

CHUNK = 4096


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _old_outlier_removal(descriptors: torch.Tensor, fraction=0.4, neighbors=100) -> torch.Tensor:
    """The previous implementation (queries chunked, all N descriptors at once as the database)."""
    count = len(descriptors)
    k = min(neighbors, count - 1)
    scores = torch.empty(count)
    for start in range(0, count, CHUNK):
        distances = torch.cdist(descriptors[start:start + CHUNK], descriptors)
        scores[start:start + CHUNK] = distances.topk(k + 1, largest=False).values[:, 1:].median(dim=1).values
    keep = torch.zeros(count, dtype=torch.bool)
    keep[scores.argsort()[: count - int(fraction * count)]] = True
    return keep


def _old_kmeans(x: torch.Tensor, k: int, max_iter: int, seed: int = 0) -> torch.Tensor:
    """The previous unchunked k-means++ + Lloyd (one restart)."""
    generator = torch.Generator().manual_seed(seed)
    centers = [x[torch.randint(len(x), (1,), generator=generator)]]
    closest = torch.cdist(x, centers[0]).squeeze(1) ** 2
    for _ in range(1, k):
        index = torch.multinomial(closest, 1, generator=generator)
        centers.append(x[index])
        closest = torch.minimum(closest, torch.cdist(x, x[index]).squeeze(1) ** 2)
    centers = torch.cat(centers)
    for _ in range(max_iter):
        labels = torch.cdist(x, centers).argmin(dim=1)
        sums = torch.zeros_like(centers).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)[:, None]
        centers = torch.where(counts > 0, sums / counts.clamp_min(1), centers)
    return centers


def _measured(method: str, x: torch.Tensor, device: str) -> int:
    from hfvid.clustering import kmeans
    from hfvid.models.keypoints_to_landmarks.keypoint_initialization import remove_outliers

    if method == "outliers":
        return int(remove_outliers(x, 0.4, 100, chunk_size=CHUNK, device=device).sum())
    if method == "outliers_old":
        return int(_old_outlier_removal(x).sum())
    if method == "kmeans":
        return len(kmeans(x, 100, n_init=1, max_iter=5, normalize=False, device=device, chunk_size=CHUNK)[1])
    if method == "kmeans_old":
        return len(_old_kmeans(x, 100, 5))
    raise ValueError(f"method must be outliers, outliers_old, kmeans or kmeans_old, got {method!r}")


def run_one(method: str, size: int, dim: int, device: str) -> dict:
    """One measurement in this process (called through a subprocess by :func:`main`)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(size, dim, generator=generator), dim=1)
    _measured(method, x[:600], device)  # warm-up: loads the kernels' code pages before the baseline is taken
    cuda = device.startswith("cuda")
    if cuda:
        x = x.to(device)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        before = _rss_mb()
    start = time.perf_counter()
    kept = _measured(method, x, device)
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "size": size, "seconds": round(time.perf_counter() - start, 2),
            "working_mb": round(peak - before, 1), "input_mb": round(size * dim * 4 / 2**20, 1), "result": kept}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 80_000, 200_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--old_up_to", type=int, default=80_000, help="Largest size for the previous implementations.")
    parser.add_argument("--methods", nargs="+", default=["outliers", "outliers_old", "kmeans", "kmeans_old"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--_one", nargs=2, metavar=("METHOD", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args._one:
        print(json.dumps(run_one(args._one[0], int(args._one[1]), args.dim, args.device)))
        return
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}, dim {args.dim}")
    for method in args.methods:
        for size in args.sizes:
            if method.endswith("_old") and size > args.old_up_to:
                print(json.dumps({"method": method, "size": size, "skipped": f"> --old_up_to {args.old_up_to}"}))
                continue
            command = [sys.executable, __file__, "--_one", method, str(size), "--dim", str(args.dim),
                       "--device", args.device, "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True)
            print(done.stdout.strip() or done.stderr.strip()[-500:], flush=True)


if __name__ == "__main__":
    main()
