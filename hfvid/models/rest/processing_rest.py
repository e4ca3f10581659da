"""REST's processor: lazy uniform frame sampling + CLIP-style frame preprocessing, and the captioner's tokenizer.

Frames are sampled TSN-style (the centre of `num_frames` equal segments). A video with fewer frames than
`num_frames` is **padded by repetition** (the same rule, so indices repeat); a video with no frame is an error.
Files are streamed with PyAV (`hfvid.data.video`): only the sampled frames are kept in memory.
"""

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from transformers.image_utils import PILImageResampling
from transformers.processing_utils import ProcessorMixin
from transformers.video_processing_utils import BaseVideoProcessor

from .retrieval import normalize_caption

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def sample_frame_indices(total_frames: int, num_frames: int) -> list[int]:
    """Centre of each of `num_frames` equal segments of `[0, total_frames)`; repeats indices for short videos."""
    if total_frames < 1:
        raise ValueError("the video has no frames")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return [min(int((i + 0.5) * total_frames / num_frames), total_frames - 1) for i in range(num_frames)]


def _count_frames(path) -> int:
    from ...data.video import iter_frames, video_info

    return video_info(path)["num_frames"] or sum(1 for _ in iter_frames(path))


def load_video_frames(video, num_frames: int, progress_bar: bool | None = None) -> np.ndarray:
    """`num_frames` uniformly sampled RGB frames `(num_frames, H, W, 3)` of a path, an array or an iterable of
    frames. Files are decoded lazily (frames not sampled are dropped as they stream past); `progress_bar` shows
    the decoding (default: on above 300 frames)."""
    from tqdm.auto import tqdm

    from ...data.video import iter_frames
    from ...validation import use_progress_bar

    if isinstance(video, (str, Path)):
        total = _count_frames(video)
        indices = sample_frame_indices(total, num_frames)
        wanted, picked = set(indices), {}
        frames = tqdm(iter_frames(video), total=indices[-1] + 1, unit="frame",
                      disable=not use_progress_bar(progress_bar, total))
        for position, frame in enumerate(frames):
            if position in wanted:
                picked[position] = frame.image
            if position >= indices[-1]:
                break
        if not picked:
            raise ValueError(f"could not decode any frame of {video}")
        last = max(picked)  # the container may announce more frames than it holds
        return np.stack([picked.get(i, picked[last]) if i <= last else picked[last] for i in indices])
    if isinstance(video, torch.Tensor):
        video = video.numpy()
    if isinstance(video, np.ndarray):
        if video.ndim != 4:
            raise ValueError(f"a video array must be (frames, H, W, 3), got shape {video.shape}")
        frames = video
    elif isinstance(video, (Iterable, Iterator)):
        frames = [np.asarray(getattr(f, "image", f)) for f in video]
    else:
        raise ValueError(f"videos: a video must be a file path, a (frames, H, W, 3) array or frames, got "
                         f"{type(video).__name__}")
    if any(np.asarray(frame).dtype.kind == "f" and not np.isfinite(frame).all() for frame in frames):
        raise ValueError("videos: the video's frames contain NaN or inf values (expected uint8 RGB frames)")
    if len(frames) == 0:
        raise ValueError("videos: got a video with no frames (expected a file path or a non-empty list of frames)")
    if any(frame.ndim != 3 or frame.shape[-1] != 3 for frame in frames):
        raise ValueError(f"videos: frames must be (H, W, 3) RGB images, got shape {frames[0].shape}")
    indices = sample_frame_indices(len(frames), num_frames)
    return np.stack([np.asarray(frames[i]) for i in indices])


class RESTVideoProcessor(BaseVideoProcessor):
    r"""
    Frames -> `pixel_values (B, num_frames, 3, H, W)`: CLIP preprocessing (shortest-edge resize, centre crop,
    OpenAI CLIP mean/std), as GIT's and CLIP's own image processors do, applied to every sampled frame.

    Args:
        num_frames (`int`, *optional*, defaults to 8): frames per video (must match the model's `num_frames`).
        size (`dict`, *optional*, defaults to `{"shortest_edge": 224}`), crop_size (`dict`, *optional*, defaults
            to `{"height": 224, "width": 224}`): resize and crop.
    """

    resample = PILImageResampling.BICUBIC
    image_mean = CLIP_MEAN
    image_std = CLIP_STD
    size = {"shortest_edge": 224}
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = False
    num_frames = 8
    model_input_names = ["pixel_values"]

    def preprocess(self, videos, **kwargs):
        """`videos`: one or a list of videos (paths, `(frames, H, W, 3)` uint8 arrays, or lists of frames); each is
        sampled to `num_frames` frames first."""
        single = isinstance(videos, (str, Path)) or (isinstance(videos, (np.ndarray, torch.Tensor)) and videos.ndim == 4)
        if not single and not isinstance(videos, Iterable):
            raise ValueError(f"videos: expected a video file path, a (frames, H, W, 3) array, a list of frames, or a "
                             f"list of videos, got {type(videos).__name__}")
        videos = [videos] if single else list(videos)
        if not videos:
            raise ValueError("no video given")
        num_frames = kwargs.pop("num_frames", None) or self.num_frames
        progress_bar = kwargs.pop("progress_bar", None)
        clips = [load_video_frames(video, num_frames, progress_bar) for video in videos]
        batch = super().preprocess(clips, return_tensors=kwargs.pop("return_tensors", "pt"), **kwargs)
        batch["pixel_values"] = batch.pop("pixel_values_videos")
        return batch


def captioner_video_processor(captioner_type: str, num_frames: int, image_size: int) -> RESTVideoProcessor:
    """The frame preprocessing of a captioner family, at `image_size` px: GIT's (CLIP image processor: shortest-edge
    resize, centre crop) or BLIP's (`BlipImageProcessor`: resize to a square, no crop); both normalise with OpenAI
    CLIP's mean/std."""
    if captioner_type == "blip":
        return RESTVideoProcessor(num_frames=num_frames, size={"height": image_size, "width": image_size},
                                  do_center_crop=False)
    if captioner_type != "git":
        raise ValueError(f"captioner_type must be 'git' or 'blip', got {captioner_type!r}")
    return RESTVideoProcessor(num_frames=num_frames, size={"shortest_edge": image_size},
                              crop_size={"height": image_size, "width": image_size})


class RESTProcessor(ProcessorMixin):
    r"""
    Pairs [`RESTVideoProcessor`] with the captioner's tokenizer (BERT WordPiece for GIT and BLIP; BLIP's adds the
    `[DEC]` BOS) and the retriever's CLIP tokenizer (Rule A scoring and retrieval).

    `processor(videos=..., text=...)` gives `pixel_values` and/or `input_ids`, `attention_mask`, `labels`.
    Build it for a pretrained image captioner with [`RESTProcessor.from_captioner_processor`].
    """

    def __init__(self, video_processor, tokenizer, retriever_tokenizer, **kwargs):
        super().__init__(video_processor, tokenizer, retriever_tokenizer, **kwargs)

    @classmethod
    def from_captioner_processor(cls, captioner_processor, captioner_type: str, num_frames: int,
                                 retriever_tokenizer=None) -> "RESTProcessor":
        """A REST processor mirroring a captioner's own (`GitProcessor` or `BlipProcessor`): the same frame size and
        preprocessing rule (see `captioner_video_processor`) and its tokenizer (also used as the retriever's
        tokenizer when none is given)."""
        image_processor = captioner_processor.image_processor
        size = image_processor.crop_size if captioner_type == "git" else image_processor.size
        video_processor = captioner_video_processor(captioner_type, num_frames, size["height"])
        tokenizer = captioner_processor.tokenizer
        return cls(video_processor, tokenizer, retriever_tokenizer or tokenizer)

    def __call__(self, videos=None, text=None, prompt: str = "", return_tensors="pt", **kwargs):
        if videos is None and text is None:
            raise ValueError("give videos, text or both")
        output = {}
        if videos is not None:
            output.update(self.video_processor(videos, return_tensors=return_tensors, **kwargs))
        if text is not None:
            output.update(self.tokenize_captions(text, prompt=prompt))
        from transformers.feature_extraction_utils import BatchFeature

        return BatchFeature(output, tensor_type=return_tensors)

    def tokenize_captions(self, texts, prompt: str = "", max_length: int | None = None) -> dict:
        """`[CLS] prompt caption [SEP]` ids, attention mask and `labels` (padding and prompt tokens at -100)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("no text given")
        encoded = self.tokenizer([prompt + t for t in texts], padding=True, truncation=max_length is not None,
                                 max_length=max_length, return_tensors="pt", return_token_type_ids=False)
        labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
        num_prompt = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else 0
        labels[:, : 1 + num_prompt] = -100  # [CLS] and the prompt are given, never predicted
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "labels": labels}

    def tokenize_for_retriever(self, texts, max_length: int = 77) -> dict:
        """CLIP tokens of `texts` (truncated to CLIP's 77-token context)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        encoded = self.retriever_tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                                           return_tensors="pt")
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def generation_prompt_ids(self, batch_size: int, prompt: str = "") -> torch.Tensor | None:
        """`[CLS] prompt` ids to start generation from (None without a prompt: GIT starts from its BOS)."""
        if not prompt:
            return None
        ids = [self.tokenizer.cls_token_id, *self.tokenizer(prompt, add_special_tokens=False)["input_ids"]]
        return torch.tensor([ids] * batch_size)

    def batch_decode(self, token_ids, prompt: str = "", **kwargs) -> list[str]:
        """Generated ids -> normalised captions (special tokens and the prompt removed)."""
        texts = self.tokenizer.batch_decode(token_ids, skip_special_tokens=True, **kwargs)
        return [normalize_caption(text, prompt) for text in texts]


__all__ = ["RESTProcessor", "RESTVideoProcessor", "captioner_video_processor", "load_video_frames",
           "sample_frame_indices"]
