#!/usr/bin/env python
"""REST step A: pseudo-captions for unlabelled videos, written as `datasets` shards (resumable, multi-process).

    accelerate launch training_scripts/generate_rest_pseudo_captions.py --dataset_name synthetic --output_dir out/pool
    accelerate launch training_scripts/generate_rest_pseudo_captions.py --train_dir kinetics400/train \
        --captioner_name_or_path microsoft/git-base --output_dir out/pool
    accelerate launch training_scripts/generate_rest_pseudo_captions.py --train_dir kinetics400/train \
        --captioner_name_or_path Salesforce/blip-image-captioning-base --prompt "a picture of " --output_dir out/pool

Each video gets captions of `--frames_per_video` uniformly sampled frames from a frozen *image* captioner (one beam
caption plus `--num_sampled_captions` nucleus samples per frame), normalised and de-duplicated. For later
self-training rounds pass a trained REST video captioner: it captions the whole clip instead. Synthetic data uses
the rule-based teachers of `hfvid.data.synthetic_video`. Shards are `<output_dir>/shard-XXXXX` with columns
`(video_id, frame_idx, caption, source)`; existing shards are skipped, so rerunning resumes.
"""

import argparse

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from hfvid.data.rest_videos import load_unlabelled_videos, my_shards, save_shard, shard_done
from hfvid.models.rest.processing_rest import load_video_frames
from hfvid.models.rest.retrieval import build_caption_pool, normalize_caption

logger = get_logger(__name__, log_level="INFO")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset_name", type=str, default=None, help='"synthetic" for the built-in shapes videos.')
    parser.add_argument("--train_dir", type=str, default=None, help="Folder of unlabelled videos.")
    parser.add_argument("--output_dir", type=str, required=True)
    parser.add_argument("--captioner_name_or_path", type=str, default=None,
                        help="A GIT or BLIP image captioner (e.g. microsoft/git-base, "
                             "Salesforce/blip-image-captioning-base) or a trained hfvid-rest captioner.")
    parser.add_argument("--prompt", type=str, default="",
                        help='Caption prefix, stripped from captions; BLIP and REST captioners also start from it '
                             '(BLIP: "a picture of ").')
    parser.add_argument("--frames_per_video", type=int, default=4)
    parser.add_argument("--num_sampled_captions", type=int, default=3, help="Nucleus samples per frame.")
    parser.add_argument("--top_p", type=float, default=0.9)
    parser.add_argument("--max_new_tokens", type=int, default=30)
    parser.add_argument("--shard_size", type=int, default=256, help="Videos per shard.")
    parser.add_argument("--max_train_samples", type=int, default=None)
    parser.add_argument("--synthetic_videos", type=int, default=144)
    parser.add_argument("--synthetic_action_fraction", type=float, default=0.3,
                        help="Synthetic: fraction of videos whose pool also holds a motion caption.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args(argv)
    if args.dataset_name not in (None, "synthetic") or (args.dataset_name is None and args.train_dir is None):
        raise ValueError("Need --dataset_name synthetic or --train_dir.")
    if args.dataset_name is None and args.captioner_name_or_path is None:
        raise ValueError("Real videos need --captioner_name_or_path (a GIT or BLIP image captioner or a REST "
                         "checkpoint).")
    for name in ("frames_per_video", "shard_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1")
    return args


def load_videos(args):
    return load_unlabelled_videos(args.dataset_name, args.train_dir, args.seed, args.synthetic_videos,
                                  args.max_train_samples)


class NeuralCaptioner:
    """Captions with a frozen GIT or BLIP image captioner (per frame) or a REST video captioner (per clip)."""

    def __init__(self, path, args, device):
        from transformers import AutoConfig, AutoProcessor, BlipForConditionalGeneration, GitForCausalLM

        self.args, self.device = args, device
        self.processor = AutoProcessor.from_pretrained(path)
        model_type = AutoConfig.from_pretrained(path).model_type
        self.video_model = model_type == "hfvid-rest"
        if self.video_model:
            from hfvid.models.rest import RESTForVideoCaptioning

            self.model = RESTForVideoCaptioning.from_pretrained(path).to(device).eval()
        elif model_type in ("git", "blip"):
            image_model = BlipForConditionalGeneration if model_type == "blip" else GitForCausalLM
            self.model = image_model.from_pretrained(path).to(device).eval()
        else:
            raise ValueError(f"--captioner_name_or_path must be a GIT, BLIP or hfvid-rest model, got {model_type!r}")
        self.blip = model_type == "blip"
        # a REST model starts its captions from its own (trained) prefix
        self.prompt = args.prompt or (self.model.config.prompt if self.video_model else "")

    def _generate(self, pixel_values, **kwargs):
        prompt = self.prompt
        if self.video_model:
            prompt_ids = self.processor.generation_prompt_ids(len(pixel_values), prompt)
            return self.model.generate(pixel_values, input_ids=prompt_ids, **kwargs)
        if self.blip and prompt:  # BLIP conditions on "[CLS] prompt [SEP]" (its generate drops the [SEP])
            prompt_ids = self.processor.tokenizer([prompt] * len(pixel_values), return_tensors="pt")["input_ids"]
            return self.model.generate(pixel_values=pixel_values, input_ids=prompt_ids.to(self.device), **kwargs)
        return self.model.generate(pixel_values=pixel_values, **kwargs)

    @torch.no_grad()
    def __call__(self, video_id, video) -> list[dict]:
        args = self.args
        if self.video_model:
            pixel_values = self.processor.video_processor(video, return_tensors="pt")["pixel_values"]
            frame_ids = [-1]
        else:
            frames = load_video_frames(video, args.frames_per_video)
            pixel_values = self.processor(images=list(frames), return_tensors="pt")["pixel_values"]
            frame_ids = list(range(len(frames)))
        pixel_values = pixel_values.to(self.device)
        beam = self._generate(pixel_values, num_beams=3, max_new_tokens=args.max_new_tokens, min_new_tokens=5)
        rows = [(frame_ids[i], text, "beam") for i, text in enumerate(self._decode(beam))]
        if args.num_sampled_captions:
            sampled = self._generate(pixel_values, do_sample=True, top_p=args.top_p, num_beams=1,
                                     num_return_sequences=args.num_sampled_captions,
                                     max_new_tokens=args.max_new_tokens)
            rows += [(frame_ids[i // args.num_sampled_captions], text, "nucleus")
                     for i, text in enumerate(self._decode(sampled))]
        return [{"video_id": video_id, "frame_idx": f, "caption": t, "source": s} for f, t, s in rows]

    def _decode(self, ids):
        texts = self.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [normalize_caption(t, self.prompt) for t in texts]


def synthetic_captioner(args):
    """The rule-based teachers: frame captions for every video, clip (motion) captions for a fraction of them."""
    import zlib

    from hfvid.data.synthetic_video import clip_teacher_caption, frame_teacher_caption

    def caption(video_id, frames):
        rows = [{"video_id": video_id, "frame_idx": int(t), "caption": frame_teacher_caption(frames[t]),
                 "source": "frame_teacher"}
                for t in sorted({round(i * (len(frames) - 1) / max(args.frames_per_video - 1, 1))
                                 for i in range(args.frames_per_video)})]
        if zlib.crc32(f"{args.seed}:{video_id}".encode()) / 2**32 < args.synthetic_action_fraction:
            rows.append({"video_id": video_id, "frame_idx": -1, "caption": clip_teacher_caption(frames),
                         "source": "clip_teacher"})
        return rows

    return caption


def main(args):
    accelerator = Accelerator(cpu=args.cpu)
    set_seed(args.seed + accelerator.process_index)
    videos = load_videos(args)
    if args.captioner_name_or_path:
        captioner = NeuralCaptioner(args.captioner_name_or_path, args, accelerator.device)
    else:
        captioner = synthetic_captioner(args)
    todo = [(i, items) for i, items in my_shards(len(videos), args.shard_size, accelerator.process_index,
                                                  accelerator.num_processes) if not shard_done(args.output_dir, i)]
    logger.info(f"{len(videos)} videos; this rank writes {len(todo)} missing shards", main_process_only=False)
    for index, items in tqdm(todo, disable=not accelerator.is_local_main_process, desc="pseudo-caption shards"):
        rows = [row for i in items for row in captioner(*videos[i])]
        save_shard(build_caption_pool(rows, prompt=args.prompt), args.output_dir, index)
    accelerator.wait_for_everyone()
    return {"num_videos": len(videos), "shards_written": len(todo)}


if __name__ == "__main__":
    main(parse_args())
