#!/usr/bin/env python
"""REST step B: embed the pseudo-caption pool and every video, retrieve each video's top-k captions (resumable).

    accelerate launch training_scripts/build_rest_caption_index.py --dataset_name synthetic \
        --pool_dir out/pool --output_dir out/retrieved
    accelerate launch training_scripts/build_rest_caption_index.py --train_dir kinetics400/train \
        --pool_dir out/pool --retriever_name_or_path openai/clip-vit-base-patch32 --output_dir out/retrieved

Captions are embedded once (`caption_embeddings.safetensors`, reused on rerun); videos (mean of L2-normalised
CLIP frame embeddings) are processed in shards `<output_dir>/shard-XXXXX` with columns
`(video_id, captions, sims)`, split round-robin over the processes; existing shards are skipped. Synthetic data
uses the pixel-measured bag-of-words embedder of `hfvid.data.synthetic_video` in place of CLIP.
"""

import argparse
import json
from pathlib import Path

import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from hfvid.data.rest_videos import load_shards, load_unlabelled_videos, my_shards, save_shard, shard_done
from hfvid.models.rest.retrieval import clip_text_embeddings, clip_video_embeddings, retrieve_topk, unique_captions


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset_name", type=str, default=None)
    parser.add_argument("--train_dir", type=str, default=None)
    parser.add_argument("--pool_dir", type=str, required=True, help="Shards written by generate_rest_pseudo_captions.")
    parser.add_argument("--output_dir", type=str, required=True)
    parser.add_argument("--retriever_name_or_path", type=str, default=None, help="A CLIP checkpoint (real videos).")
    parser.add_argument("--top_k", type=int, default=8)
    parser.add_argument("--min_sim", type=float, default=0.2)
    parser.add_argument("--dedup_threshold", type=float, default=0.95)
    parser.add_argument("--retrieval_chunk_size", type=int, default=32768,
                        help="Captions scored at once per shard of videos (memory ~ shard_size x this x 4 bytes).")
    parser.add_argument("--retrieval_backend", choices=["torch", "faiss"], default="torch",
                        help="faiss: an exact IndexFlatIP on the CPU (needs faiss installed); same result.")
    parser.add_argument("--frames_per_video", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=64, help="Captions / videos embedded at once.")
    parser.add_argument("--shard_size", type=int, default=1024, help="Videos per output shard.")
    parser.add_argument("--max_train_samples", type=int, default=None)
    parser.add_argument("--synthetic_videos", type=int, default=144)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args(argv)
    if args.dataset_name not in (None, "synthetic") or (args.dataset_name is None and args.train_dir is None):
        raise ValueError("Need --dataset_name synthetic or --train_dir.")
    if args.dataset_name is None and args.retriever_name_or_path is None:
        raise ValueError("Real videos need --retriever_name_or_path (a CLIP checkpoint).")
    if args.top_k < 1 or args.shard_size < 1 or args.batch_size < 1 or args.retrieval_chunk_size < 1:
        raise ValueError("--top_k, --shard_size, --batch_size and --retrieval_chunk_size must be >= 1")
    return args


class Embedder:
    """Caption and video embeddings: CLIP for real videos, the synthetic bag-of-words "CLIP" otherwise."""

    def __init__(self, args, device):
        self.args, self.device, self.clip = args, device, None
        if args.retriever_name_or_path:
            from transformers import AutoProcessor, CLIPModel

            self.clip = CLIPModel.from_pretrained(args.retriever_name_or_path).to(device).eval()
            self.processor = AutoProcessor.from_pretrained(args.retriever_name_or_path)

    @torch.no_grad()
    def texts(self, captions) -> torch.Tensor:
        if self.clip is None:
            from hfvid.data.synthetic_video import text_bow_embedding

            return torch.from_numpy(text_bow_embedding(captions))
        tokens = self.processor.tokenizer(captions, padding=True, truncation=True, max_length=77, return_tensors="pt")
        return clip_text_embeddings(self.clip, tokens["input_ids"].to(self.device),
                                    tokens["attention_mask"].to(self.device)).cpu()

    @torch.no_grad()
    def video(self, video) -> torch.Tensor:
        if self.clip is None:
            from hfvid.data.synthetic_video import video_bow_embedding

            return torch.from_numpy(video_bow_embedding(video))
        from hfvid.models.rest.processing_rest import load_video_frames

        frames = load_video_frames(video, self.args.frames_per_video)
        pixel_values = self.processor(images=list(frames), return_tensors="pt")["pixel_values"][None]
        return clip_video_embeddings(self.clip, pixel_values.to(self.device))[0].cpu()


def main(args):
    accelerator = Accelerator(cpu=args.cpu)
    output = Path(args.output_dir)
    pool = load_shards(args.pool_dir)
    captions = unique_captions(pool["caption"])
    if not captions:
        raise ValueError(f"the caption pool in {args.pool_dir} is empty")
    embedder = Embedder(args, accelerator.device)
    cache = output / "caption_embeddings.safetensors"
    if accelerator.is_main_process and not cache.is_file():
        output.mkdir(parents=True, exist_ok=True)
        chunks = [embedder.texts(captions[i:i + args.batch_size]) for i in range(0, len(captions), args.batch_size)]
        save_file({"embeddings": torch.cat(chunks).float().contiguous()}, str(cache))
        (output / "captions.json").write_text(json.dumps(captions))
    accelerator.wait_for_everyone()
    caption_embeds = load_file(str(cache))["embeddings"].to(accelerator.device)  # retrieval runs on the device
    if json.loads((output / "captions.json").read_text()) != captions:
        raise ValueError(f"{cache} was built from a different pool; delete {output} to rebuild")

    videos = load_unlabelled_videos(args.dataset_name, args.train_dir, args.seed, args.synthetic_videos,
                                    args.max_train_samples)  # the same list and order as step A
    todo = [(i, items) for i, items in my_shards(len(videos), args.shard_size, accelerator.process_index,
                                                  accelerator.num_processes) if not shard_done(output, i)]
    import datasets

    for index, items in tqdm(todo, disable=not accelerator.is_local_main_process, desc="retrieval shards"):
        video_embeds = torch.stack([embedder.video(videos[i][1]) for i in items])
        indices, sims = retrieve_topk(video_embeds, caption_embeds, args.top_k, args.min_sim, args.dedup_threshold,
                                      pool_chunk_size=args.retrieval_chunk_size, backend=args.retrieval_backend)
        rows = {"video_id": [videos[i][0] for i in items],
                "captions": [[captions[j] for j in row] for row in indices], "sims": sims}
        save_shard(datasets.Dataset.from_dict(rows), output, index)
    accelerator.wait_for_everyone()
    return {"num_captions": len(captions), "num_videos": len(videos), "shards_written": len(todo)}


if __name__ == "__main__":
    main(parse_args())
