"""Self-training data of REST: each video paired with one of its retrieved pseudo-captions, resampled every epoch."""

import zlib

import numpy as np
import torch


class RetrievedCaptionDataset(torch.utils.data.Dataset):
    """Video `i` with a caption drawn uniformly from `captions[i]` (its retrieved set R_v).

    The draw is a pure function of `(seed, epoch, video index)`, so runs are reproducible and resumable, and
    `set_epoch` (called by hfvid's training loop) resamples the targets every epoch as REST does.

    Args:
        videos: per video a path, a `(frames, H, W, 3)` array or a list of frames (decoded lazily per item).
        captions: per video a non-empty list of captions.
        video_processor: a `RESTVideoProcessor` (samples and normalises the frames).
        cache_pixels: keep each processed video in memory after its first use (small in-memory datasets such as
            the synthetic one; leave off for real video collections).
    """

    def __init__(self, videos, captions, video_processor, seed: int = 0, cache_pixels: bool = False):
        if len(videos) != len(captions):
            raise ValueError(f"got {len(videos)} videos but {len(captions)} caption lists")
        empty = [i for i, c in enumerate(captions) if not c]
        if empty:
            raise ValueError(f"videos {empty[:5]} have no retrieved caption; drop them or lower retrieval_min_sim")
        self.videos, self.captions = list(videos), [list(c) for c in captions]
        self.video_processor, self.seed, self.epoch = video_processor, seed, 0
        self.cache = {} if cache_pixels else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    def caption_for(self, index: int) -> str:
        rng = np.random.default_rng(zlib.crc32(f"{self.seed}:{self.epoch}:{index}".encode()))
        options = self.captions[index]
        return options[int(rng.integers(len(options)))]

    def __getitem__(self, index: int) -> dict:
        pixel_values = None if self.cache is None else self.cache.get(index)
        if pixel_values is None:
            pixel_values = self.video_processor(self.videos[index], return_tensors="pt")["pixel_values"][0]
            if self.cache is not None:
                self.cache[index] = pixel_values
        return {"pixel_values": pixel_values, "caption": self.caption_for(index)}


def caption_collator(processor, prompt: str = "", max_length: int | None = 40):
    """Collate `{"pixel_values", "caption"}` items into model inputs with padded, masked `labels`."""

    def collate(items):
        batch = processor.tokenize_captions([item["caption"] for item in items], prompt=prompt, max_length=max_length)
        batch["pixel_values"] = torch.stack([item["pixel_values"] for item in items])
        return batch

    return collate


__all__ = ["RetrievedCaptionDataset", "caption_collator"]
