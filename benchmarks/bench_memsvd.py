#!/usr/bin/env python
"""MeMSVD vs the LFB non-local (attention) memory: FLOPs, wall time and memory, side by side.

    python benchmarks/bench_memsvd.py                 # d=2304, N in {300, 3000, 30000}, 1/10/100-minute videos
    python benchmarks/bench_memsvd.py --quick         # smaller sizes (smoke run)

Table 1 (per keyframe with `--actors` actors, memory of N features of size d):
- analytic multiply-adds of the *read-out* per actor (MeMSVD: 2 d n_c; non-local: query/output projections and
  attention over N slots in each of the 2 blocks, d' = 512) and of the *memory preparation* per keyframe (MeMSVD:
  one incremental update with the second's 5 new features; non-local: key/value projections of the whole window,
  which LFB recomputes for every keyframe; MeMSVD batch: SVD of the whole window, for reference);
- measured wall time of the whole memory operator per keyframe (preparation + read-out for all actors), best of at least
  `--repeats` runs on this machine's CPU threads.

Table 2: peak growth of resident memory (RSS sampled every second, above its value before the
video starts; each case in a fresh process) of streaming
MeMSVD (state only) vs holding the bank, over 1, 10 and 100-minute videos at 1 Hz and 5 features per second.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from hfvid.models.memsvd.memory_memsvd import MeMSVDMemory
from hfvid.models.memsvd.modeling_memsvd import MeMSVDNonLocalBlock, memory_preparation_macs, readout_macs


def best_time(fn, repeats: int, budget: float = 1.0) -> float:
    """Fastest of at least ``repeats`` runs (more while under ``budget`` seconds): the least disturbed by other
    processes sharing the CPU, as ``timeit`` recommends."""
    fn()  # warm-up
    times, spent = [], 0.0
    while len(times) < repeats or (spent < budget and len(times) < 50):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return min(times)


def current_rss() -> int:
    """Resident set size of this process now, in bytes (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def wall_times(d, n, actors, n_c, k, latent, layers, block, repeats):
    torch.manual_seed(0)
    bank = torch.randn(1, n, d)
    mask = torch.ones(1, n, dtype=torch.bool)
    queries = torch.randn(actors, d)
    index = torch.zeros(actors, dtype=torch.long)
    memory = MeMSVDMemory(num_components=n_c, max_rank=k)
    state = memory.stream(torch.randn(1, 10 * block, d), block_size=block)  # a warm (full-rank) streaming state
    new = torch.randn(1, block, d)

    def memsvd_stream():
        memory.project(memory.update(state, new), queries, index)

    def memsvd_batch():
        memory.project(memory.from_bank(bank, mask), queries, index)

    short = torch.nn.Linear(d, latent)
    blocks = [MeMSVDNonLocalBlock(d if i == 0 else latent, d, latent, 0.0).eval() for i in range(layers)]

    def nonlocal_attention():
        s, q = short(queries), queries
        for b in blocks:
            s, _ = b(q, s, bank, mask, index)
            q = s

    with torch.no_grad():
        return {
            "memsvd_stream": best_time(memsvd_stream, repeats),
            "memsvd_batch": best_time(memsvd_batch, max(1, repeats // 3), budget=0.0),
            "nonlocal": best_time(nonlocal_attention, repeats),
        }


def memory_case(mode: str, minutes: int, d: int, k: int, block: int) -> dict:
    """Run in a fresh process: stream a video of `minutes` at 1 Hz, `block` features per second."""
    torch.set_num_threads(1)  # memory only: one thread keeps the run short on a shared CPU
    memory = MeMSVDMemory(num_components=16, max_rank=k)
    generator = torch.Generator().manual_seed(0)
    state = memory.update(memory.init_state(1, d), torch.randn(1, block, d, generator=generator))  # warm-up
    baseline = peak = current_rss()
    seconds = 60 * minutes
    held = []
    state = memory.init_state(1, d)
    for _ in range(seconds):
        features = torch.randn(1, block, d, generator=generator)
        if mode == "stream":
            state = memory.update(state, features)
        else:
            held.append(features)
        peak = max(peak, current_rss())
    kept = state.nbytes()
    if mode == "bank":
        bank = torch.cat(held, dim=1)  # what attention needs at a keyframe: the bank as one tensor
        kept = bank.numel() * bank.element_size()
        peak = max(peak, current_rss())
    return {"peak_rss_mb": (peak - baseline) / 2**20, "held_mb": kept / 2**20}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feature_dim", type=int, default=2304)
    parser.add_argument("--memory_sizes", type=int, nargs="+", default=[300, 3000, 30000])
    parser.add_argument("--minutes", type=int, nargs="*", default=[1, 10, 100], help="video lengths of table 2 (none: skip it)")
    parser.add_argument("--actors", type=int, default=5, help="actors per keyframe")
    parser.add_argument("--num_components", type=int, default=16)
    parser.add_argument("--max_rank", type=int, default=64)
    parser.add_argument("--latent_dim", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--block", type=int, default=5, help="features per second")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--memory_case", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.feature_dim, args.memory_sizes, args.minutes, args.repeats = 256, [300, 3000], [1, 10], 3
    if args.memory_case:  # child process of table 2
        print(json.dumps(memory_case(args.memory_case[0], int(args.memory_case[1]), args.feature_dim,
                                     args.max_rank, args.block)))
        return
    d = args.feature_dim
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, d={d}, n_c={args.num_components}, "
          f"k={args.max_rank}, d'={args.latent_dim}, {args.layers} non-local blocks, {args.actors} actors/keyframe\n")
    print("| N | read-out MACs/actor MeMSVD | read-out MACs/actor non-local | ratio | preparation MACs/keyframe "
          "MeMSVD stream | non-local K/V | MeMSVD batch SVD | ratio NL/stream | wall ms/keyframe MeMSVD stream | "
          "non-local | MeMSVD batch | speed-up NL/stream |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.memory_sizes:
        ro_m = readout_macs("memsvd", d, n, args.num_components)
        ro_n = readout_macs("nonlocal", d, n, latent_dim=args.latent_dim, num_layers=args.layers)
        pr_m = memory_preparation_macs("memsvd_incremental", d, n, args.max_rank, args.block)
        pr_n = memory_preparation_macs("nonlocal", d, n, latent_dim=args.latent_dim, num_layers=args.layers)
        pr_b = memory_preparation_macs("memsvd_batch", d, n)
        t = wall_times(d, n, args.actors, args.num_components, args.max_rank, args.latent_dim, args.layers,
                       args.block, args.repeats)
        print(f"| {n} | {ro_m / 1e3:.1f}k | {ro_n / 1e6:.2f}M | {ro_n / ro_m:.0f}x | {pr_m / 1e6:.1f}M | "
              f"{pr_n / 1e9:.2f}G | {pr_b / 1e9:.2f}G | {pr_n / pr_m:.0f}x | {1e3 * t['memsvd_stream']:.2f} | "
              f"{1e3 * t['nonlocal']:.2f} | {1e3 * t['memsvd_batch']:.1f} | {t['nonlocal'] / t['memsvd_stream']:.1f}x |",
              flush=True)

    if not args.minutes:
        return
    print("\n| video | features | streaming MeMSVD: state held | peak RSS | holding the bank: bank held | peak RSS |")
    print("|---|---|---|---|---|---|")
    for minutes in args.minutes:
        cells = {}
        for mode in ("stream", "bank"):
            command = [sys.executable, __file__, "--memory_case", mode, str(minutes), "--feature_dim", str(d),
                       "--max_rank", str(args.max_rank), "--block", str(args.block)]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            cells[mode] = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"| {minutes} min | {60 * minutes * args.block} | {cells['stream']['held_mb']:.2f} MB | "
              f"{cells['stream']['peak_rss_mb']:.1f} MB | {cells['bank']['held_mb']:.1f} MB | "
              f"{cells['bank']['peak_rss_mb']:.1f} MB |", flush=True)


if __name__ == "__main__":
    main()
