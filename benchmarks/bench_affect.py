#!/usr/bin/env python
"""Throughput and memory of the `hfvid-affect` pipeline on long synthetic face videos.

    python benchmarks/bench_affect.py                   # 10-minute video at 25 fps (15,000 frames) + 2.5-minute one
    python benchmarks/bench_affect.py --minutes 1 0.25  # smoke run

Each case runs in a fresh process: encode a synthetic video (32x32 frames whose blobs follow valence/arousal curves)
to MP4 with PyAV, then stream it through the pipeline (PyAV decoding, tiny ResNet backbone, Affective-Process windows
of 128 frames with stride 64). Reported: decoded frames per second of the pipeline (encoding excluded) and the
peak resident memory (ru_maxrss) of the process, which stays flat in video length because only one window of
features is held (the records themselves are yielded, not kept).
"""

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, tempfile, time, torch
import hfvid
from transformers import pipeline
from hfvid import AffectiveProcessConfig, AffectiveProcessForAffectEstimation, AffectiveProcessVideoProcessor
from hfvid.data.synthetic_affect import iter_synthetic_affect_frames
from hfvid.data.video import write_video
minutes, fps, threads = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
folder = tempfile.mkdtemp()
config = AffectiveProcessConfig(backbone_config={"embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1],
    "layer_type": "basic"}, image_size=32, feature_proj_dim=64, label_embed_dim=16, encoder_hidden_sizes=[64, 64],
    latent_hidden_size=64, latent_dim=16, decoder_hidden_sizes=[64, 64])
AffectiveProcessForAffectEstimation(config).save_pretrained(folder)
AffectiveProcessVideoProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
frames = int(minutes * 60 * fps)
path = write_video(folder + "/video.mp4", (f for f, _ in iter_synthetic_affect_frames(frames, image_size=32)), fps=fps)
pipe = pipeline("hfvid-affect", model=folder)
start = time.perf_counter()
count = sum(1 for _ in pipe.stream(str(path), batch_size=64, face_detector="full_image"))  # face-crop video
seconds = time.perf_counter() - start
print(json.dumps({"minutes": minutes, "frames": count, "seconds": seconds, "frames_per_s": count / seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 2.5])
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    rows = []
    for minutes in args.minutes:
        result = subprocess.run([sys.executable, "-c", CHILD, str(minutes), str(args.fps), str(args.threads)],
                                capture_output=True, text=True, check=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    print("| video | frames | pipeline frames/s | peak RSS (MB) |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['minutes']:g} min | {row['frames']} | {row['frames_per_s']:.0f} | {row['peak_rss_mb']:.0f} |")
    return rows


if __name__ == "__main__":
    main()
