#!/usr/bin/env python
"""REST speed: captioning and zero-shot videos/s (batched vs one by one), retrieval index build/query time.

    python benchmarks/bench_rest.py [--hidden_size 64 --image_size 64 --num_frames 4 --videos 16]
    python benchmarks/bench_rest.py --captioner_types git blip   # also the BLIP captioner (rows marked [blip])

Models are tiny and random (no downloads); the retrieval part uses random 512-d embeddings for 10k and 100k
captions (exact cosine top-k with `retrieve_topk`, chunked over videos). The "model only" rows time Rule B scoring
with the shared visual-prefix cache (default) against the full teacher-forced forward of every label prompt (the
path before the fix: GIT re-ran its T*P visual tokens through the decoder once per label).
"""

import argparse
import time

import numpy as np
import torch


def timed(fn, repeat: int = 1) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hidden_size", type=int, default=64)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--num_frames", type=int, default=4)
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--pool_sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--query_videos", type=int, default=256)
    parser.add_argument("--captioner_types", nargs="+", choices=["git", "blip"], default=["git"])
    args = parser.parse_args(argv)

    import hfvid  # noqa: F401
    from hfvid.data.synthetic_video import shapes_in_motion
    from hfvid.models.rest import retrieve_topk
    from hfvid.data.rest_videos import synthetic_classes

    videos = [v["frames"] for v in shapes_in_motion(args.videos, num_frames=8, image_size=args.image_size)]
    labels = synthetic_classes()
    rows = []
    for captioner_type in args.captioner_types:
        rows += bench_captioner(captioner_type, args, videos, labels)
    print(f"| task | videos/s one by one | videos/s batch 8 |  (hidden {args.hidden_size}, {args.num_frames} frames "
          f"of {args.image_size} px, {torch.get_num_threads()} threads)")
    print("|---|---|---|")
    for name, one, batched in rows:
        print(f"| {name} | {one:.1f} | {batched:.1f} |")

    print("\n| captions | index build (embed-free: normalise) s | query s / video |")
    print("|---|---|---|")
    generator = torch.Generator().manual_seed(0)
    for size in args.pool_sizes:
        pool = torch.randn(size, 512, generator=generator)
        queries = torch.randn(args.query_videos, 512, generator=generator)
        build = timed(lambda: torch.nn.functional.normalize(pool, dim=-1))
        query = timed(lambda: retrieve_topk(queries, pool, k=8, min_sim=0.0, dedup_threshold=0.95, query_chunk_size=64))
        print(f"| {size:,} | {build:.3f} | {query / args.query_videos * 1000:.2f} ms |")
    return rows


def bench_captioner(captioner_type, args, videos, labels) -> list[tuple[str, float, float]]:
    """Pipeline and model-level rows of one tiny random captioner (GIT rows unmarked, BLIP rows `[blip]`)."""
    import tempfile

    from transformers import pipeline

    from hfvid.models.rest import RESTForZeroShotVideoClassification
    from hfvid.data.rest_videos import tiny_synthetic_components

    config, processor = tiny_synthetic_components(num_frames=args.num_frames, image_size=args.image_size,
                                                  hidden_size=args.hidden_size, captioner_type=captioner_type)
    folder = tempfile.mkdtemp()
    RESTForZeroShotVideoClassification(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    captioner = pipeline("hfvid-video-captioning", model=folder)
    classifier = pipeline("hfvid-zero-shot-video-classification", model=folder)
    mark = "" if captioner_type == "git" else f"[{captioner_type}] "
    rows = []
    for name, run in (
        ("captioning", lambda b: captioner(videos, batch_size=b, max_new_tokens=8)),
        ("zero-shot likelihood (12 labels)", lambda b: classifier(videos, candidate_labels=labels,
                                                                   scoring="likelihood", batch_size=b)),
        ("zero-shot text similarity (12 labels, 5 captions)",
         lambda b: classifier(videos, candidate_labels=labels, scoring="text_similarity", batch_size=b)),
    ):
        one = timed(lambda: run(1))
        batched = timed(lambda: run(8))
        rows.append((mark + name, args.videos / one, args.videos / batched))
    # model level: Rule B scoring with the visual prefix run once per video and its cache shared by the K prompts
    # (default) vs the full teacher-forced forward of every prompt (the pre-fix path: K x (T*P + L) decoder tokens)
    model = RESTForZeroShotVideoClassification.from_pretrained(folder).eval()
    pixel_values = processor.video_processor(videos, return_tensors="pt")["pixel_values"]
    prompts = processor.tokenize_captions([f"a {c}" for c in labels])
    for share in (False, True):
        def score(batch, share=share):
            with torch.no_grad():
                for i in range(0, len(pixel_values), batch):
                    model.score_texts(pixel_values[i:i + batch], prompts["input_ids"], prompts["attention_mask"],
                                      prompts["labels"], share_visual_prefix=share)
        name = "shared visual prefix" if share else "full forward per label"
        rows.append((f"{mark}likelihood scoring, model only ({name})", args.videos / timed(lambda: score(1)),
                     args.videos / timed(lambda: score(8))))
    return rows


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
