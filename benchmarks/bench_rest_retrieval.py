#!/usr/bin/env python
"""REST retrieval memory and time: the full-matrix path before issue 17 against the chunked running top-k.

    python benchmarks/bench_rest_retrieval.py                       # 50k / 200k / 1M captions x 512, 1k videos
    python benchmarks/bench_rest_retrieval.py --pool_sizes 2000000 --old_max_pool 0 --backends torch faiss

Every row runs in a fresh subprocess on random 512-d embeddings (k=8, min_sim=0, dedup 0.95, the default 40
candidates per video). "Peak extra" is the growth of the process's peak RSS (VmHWM, reset through
/proc/self/clear_refs once the embeddings exist) during the retrieval call, i.e. what retrieval itself allocates
on top of its inputs. "old" is the pre-issue-17 path: one `videos x pool` similarity matrix per 1024 videos, fully
and stably sorted (about 16 GB for 1024 videos x 1M captions); it runs only up to --old_max_pool. "same" says that
the chunked result (indices) equals the old one on that row.

Measured on the shared dev box (AMD EPYC, 2 threads for torch, 23 GB RAM, load average 7-8 from 7 other jobs:
times are noisy and pessimistic, memory is not), 1000 videos x 512 dims, query_chunk 1024, pool_chunk 32768,
faiss-cpu 1.15.1 installed outside the project for the faiss rows:

| captions | path | time s | peak extra MB | same |
|---|---|---|---|---|
| 50,000 | old | 20.5 | 879 | - |
| 50,000 | chunked | 4.7 | 428 | yes |
| 50,000 | faiss | 7.0 | 283 | yes |
| 200,000 | old | 64.8 | 3,463 | - |
| 200,000 | chunked | 15.3 | 432 | yes |
| 200,000 | chunked, --pool_chunk_size 8192 | 27.5 | 246 | - |
| 200,000 | faiss | 14.9 | 802 | yes |
| 1,000,000 | old | not run (linear: ~17,000) | | |
| 1,000,000 | chunked | 73.9 | 431 | - |
| 1,000,000 | faiss | 58.4 | 3,927 (its own copy of the pool: 2 GB) | - |

The chunked peak is flat in the pool size (sims chunk 1000 x 32768 floats = 131 MB plus the normalised chunk, the
top-k masks and the dedup candidates' embeddings); the old one grows as videos x pool x 16 bytes (values, sort
values, int64 sort indices). The chunked path is also faster here: the old path fully sorts every row and runs its
filters one caption at a time in Python.
"""

import argparse
import hashlib
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models" / "rest"))
from rest_retrieval_reference import exact_retrieve  # noqa: E402  the pre-issue-17 path, shared with its test


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(path: str, size: int, args) -> dict:
    """One row, in this process: build the embeddings, reset the peak RSS, run, report time and peak growth."""
    from hfvid.models.rest.retrieval import retrieve_topk

    generator = torch.Generator().manual_seed(0)
    pool = torch.randn(size, args.dim, generator=generator)
    videos = torch.randn(args.queries, args.dim, generator=generator)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    start = time.perf_counter()
    if path == "old":
        indices = exact_retrieve(videos, pool, args.k, 0.0, 0.95)[0]
    else:
        indices, _ = retrieve_topk(videos, pool, args.k, 0.0, 0.95, query_chunk_size=args.query_chunk_size,
                                   pool_chunk_size=args.pool_chunk_size, backend=path)
    seconds = time.perf_counter() - start
    return {"size": size, "path": path, "seconds": seconds, "peak_extra_mb": (_status_kb("VmHWM") - before) / 1024,
            "indices_hash": hashlib.sha1(json.dumps(indices).encode()).hexdigest()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool_sizes", type=int, nargs="+", default=[50_000, 200_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--query_chunk_size", type=int, default=1024)
    parser.add_argument("--pool_chunk_size", type=int, default=32768)
    parser.add_argument("--old_max_pool", type=int, default=200_000, help="Largest pool the old path runs on.")
    parser.add_argument("--backends", nargs="+", choices=["torch", "faiss"], default=["torch"])
    parser.add_argument("--one", nargs=2, metavar=("PATH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args)))
        return None
    if "faiss" in args.backends and importlib.util.find_spec("faiss") is None:
        print("faiss is not installed: skipping its rows")
        args.backends = [b for b in args.backends if b != "faiss"]
    forwarded = list(argv if argv is not None else sys.argv[1:])
    print(f"| captions | path | time s | peak extra MB | same |  ({args.queries} videos x {args.dim}, "
          f"{torch.get_num_threads()} threads)")
    print("|---|---|---|---|---|")
    rows = []
    for size in args.pool_sizes:
        paths = (["old"] if size <= args.old_max_pool else []) + args.backends
        results = {}
        for path in paths:
            out = subprocess.run([sys.executable, __file__, *forwarded, "--one", path, str(size)], check=True,
                                 capture_output=True, text=True).stdout
            results[path] = json.loads(out.strip().splitlines()[-1])
        for path, row in results.items():
            same = "-" if "old" not in results or path == "old" else \
                ("yes" if row["indices_hash"] == results["old"]["indices_hash"] else "NO")
            print(f"| {size:,} | {path if path != 'torch' else 'chunked'} | {row['seconds']:.1f} | "
                  f"{row['peak_extra_mb']:.0f} | {same} |", flush=True)
            rows.append(row)
    return rows


if __name__ == "__main__":
    main()
