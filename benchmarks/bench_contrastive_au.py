#!/usr/bin/env python
"""Contrastive AU throughput on CPU: stage-1 and stage-2 training frames/s, and `hfvid-au-intensity` inference
frames/s on a 10-minute (25 fps) synthetic face video streamed frame by frame (tiny synthetic-scale model, 32 px).

    python benchmarks/bench_contrastive_au.py [--minutes 10] [--steps 20]
"""

import argparse
import tempfile
import time

import torch

TINY = dict(image_size=32, temporal_hidden_size=32, embedding_dim=16, projection_hidden_size=32, num_aus=3,
            au_names=["AU01", "AU06", "AU12"],
            backbone_config={"embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1], "layer_type": "basic"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    import hfvid  # noqa: F401 (registers the pipeline)
    from transformers import pipeline

    from hfvid import ContrastiveAUConfig, ContrastiveAUForAUIntensity, ContrastiveAUForPreTraining
    from hfvid.data.synthetic_affect import iter_synthetic_affect_frames
    from hfvid.models.affective_process import AffectiveProcessVideoProcessor

    config = ContrastiveAUConfig(**TINY)
    torch.manual_seed(0)
    pre = ContrastiveAUForPreTraining(config)
    optimizer = torch.optim.Adam(pre.parameters(), 1e-3)
    clips = torch.randn(16, config.clip_length, 3, 32, 32)
    start = time.perf_counter()
    for _ in range(args.steps):
        optimizer.zero_grad()
        pre(clips).loss.backward()
        optimizer.step()
    stage1 = args.steps * clips.shape[0] * clips.shape[1] / (time.perf_counter() - start)

    model = ContrastiveAUForAUIntensity(config)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    windows, labels = torch.randn(8, 32, 3, 32, 32), torch.rand(8, 32, 3) * 5
    mask = torch.zeros(8, 32, dtype=torch.bool)
    mask[:, 10] = True
    start = time.perf_counter()
    for _ in range(args.steps):
        optimizer.zero_grad()
        model(windows, labels=labels, label_mask=mask).loss.backward()
        optimizer.step()
    stage2 = args.steps * windows.shape[0] * windows.shape[1] / (time.perf_counter() - start)

    frames = int(args.minutes * 60 * 25)
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        AffectiveProcessVideoProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
        pipe = pipeline("hfvid-au-intensity", model=folder, device="cpu")
        video = (frame for frame, _ in iter_synthetic_affect_frames(frames, "au", image_size=32))
        start = time.perf_counter()
        count = sum(1 for _ in pipe.stream(video, batch_size=64, face_detector="full_image"))  # face crops
        inference = count / (time.perf_counter() - start)
    print(f"torch threads {torch.get_num_threads()}, tiny config (32 px, ResNet [16, 32], GRU 32)")
    print(f"stage 1 training: {stage1:8.1f} frames/s")
    print(f"stage 2 training: {stage2:8.1f} frames/s")
    print(f"inference ({count} frames = {args.minutes:g} min at 25 fps, incl. synthetic rendering): "
          f"{inference:8.1f} frames/s")
    return {"stage1": stage1, "stage2": stage2, "inference": inference, "frames": count}


if __name__ == "__main__":
    main()
