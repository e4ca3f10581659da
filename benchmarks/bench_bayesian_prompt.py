"""BPL benchmarks on the CPU (run by hand): cost of Monte-Carlo prompts vs a CoOp-style deterministic prompt.

1. Training step time (forward + backward + Adam) and inference images/s on the same tiny random CLIP, for BPL with
   L samples and for the deterministic prompt (one pass with the posterior mean = CoOp's cost), unconditional and
   conditional variants.
2. Size of the saved adapter file vs the full CLIP safetensors.

    python benchmarks/bench_bayesian_prompt.py [--classes 8] [--samples 10] [--hidden 64] [--repeats 5]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def run(classes: int, samples: int, hidden: int, batch: int, repeats: int) -> None:
    from peft import get_peft_model

    import hfvid  # noqa: F401
    from hfvid import BayesianPromptConfig, build_class_prompts, resolve_ctx_init
    from hfvid.data.synthetic_images import shape_class_names, tiny_clip

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    names = shape_class_names(classes)
    pixels = torch.rand(batch, 3, 32, 32)
    labels = torch.arange(batch) % classes
    print(f"tiny CLIP (hidden {hidden}), {classes} classes, batch {batch}, L = {samples}, {repeats} repeats")
    print("| variant | prompt | train step (ms) | inference (images/s) |\n|---|---|---|---|")
    for variant in ("unconditional", "conditional"):
        clip, processor = tiny_clip(hidden_size=hidden)
        config = resolve_ctx_init(BayesianPromptConfig(variant=variant, num_samples_train=samples,
                                                       num_samples_eval=samples), processor.tokenizer)
        model = get_peft_model(clip, config)
        prompts = build_class_prompts(processor.tokenizer, names, config)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        for label, deterministic in ((f"BPL (L={samples})", False), ("CoOp-style (deterministic)", True)):
            def step():
                model.train()
                out = model.classify(pixels, prompts["input_ids"], prompts["attention_mask"], labels=labels,
                                     deterministic=deterministic)
                optimizer.zero_grad()
                out.loss.backward()
                optimizer.step()

            def infer():
                model.eval()
                with torch.no_grad():
                    model.classify(pixels, prompts["input_ids"], prompts["attention_mask"], deterministic=deterministic)

            train_ms = 1000 * _timed(step, repeats)
            images_per_s = batch / _timed(infer, repeats)
            print(f"| {variant} | {label} | {train_ms:.1f} | {images_per_s:.0f} |")
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(Path(tmp) / "adapter")
            model.base_model.model.save_pretrained(Path(tmp) / "full")  # CLIP with the adapter tensors inside
            adapter = (Path(tmp) / "adapter" / "adapter_model.safetensors").stat().st_size
            full = (Path(tmp) / "full" / "model.safetensors").stat().st_size
        print(f"| {variant} | adapter file {adapter / 1024:.1f} KiB vs full model {full / 1024:.0f} KiB "
              f"({100 * adapter / full:.2f}%) | | |")
    vit_b16 = {"unconditional": 4 * 512 + 512 + 512, "conditional": 659_456}
    print(f"ViT-B/16 adapter parameters (spec): {vit_b16}; CLIP ViT-B/16 has ~150M parameters (~600 MB fp32).")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    run(args.classes, args.samples, args.hidden, args.batch, args.repeats)
