"""GANnotation benchmark: pipeline frames/s for a 100-frame landmark trajectory, batch 1 vs batched, on the CPU.

Run by hand: `python benchmarks/bench_gannotation.py [--tiny] [--frames 100] [--threads N]`. The full-size model is
the FG 2020 generator (8.6 M parameters, 128 px, 66 heatmaps); `--tiny` uses base 16 channels, 2 residual blocks.
"""

import argparse
import os
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def trajectory(frames: int):
    """A synthetic face and a 100-frame 68-point trajectory of the same person."""
    from hfvid.data.synthetic_pairs import synthetic_face_video

    video = synthetic_face_video(0, frames + 1, image_size=128)
    return video["images"][0], video["landmarks"][0], video["landmarks"][1:]


def throughput(tiny: bool, frames: int = 100, batch_sizes=(1, 8, 32)) -> list[tuple]:
    from hfvid import GANnotationConfig, GANnotationGenerator, GANnotationPipeline

    config = GANnotationConfig(base_channels=16, num_res_blocks=2) if tiny else GANnotationConfig()
    torch.manual_seed(0)
    pipe = GANnotationPipeline(synthesizer=GANnotationGenerator(config).eval())
    pipe.set_progress_bar_config(disable=True)
    image, source, targets = trajectory(frames)
    pipe(image, targets[:2], source_landmarks=source, batch_size=2)  # warm-up
    rows = []
    for batch_size in batch_sizes:
        start = time.perf_counter()
        out = pipe(image, targets, source_landmarks=source, batch_size=batch_size, output_type="np")
        seconds = time.perf_counter() - start
        assert len(out.images) == frames
        rows.append((f"batch {batch_size}", frames / seconds, seconds))
    start = time.perf_counter()
    pipe(image, targets, source_landmarks=source, progressive=True, output_type="np")
    seconds = time.perf_counter() - start
    rows.append(("progressive (chained, batch 1)", frames / seconds, seconds))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"GANnotation pipeline, {args.frames}-frame trajectory, {'tiny' if args.tiny else 'full-size'} generator, "
          f"{torch.get_num_threads()} threads")
    print("| mode | frames/s | seconds |\n|---|---|---|")
    for name, fps, seconds in throughput(args.tiny, args.frames):
        print(f"| {name} | {fps:.2f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
