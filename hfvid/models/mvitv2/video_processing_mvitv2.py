"""MViTv2's video processor: uniform or fixed-stride frame sampling, multi-view (clips x crops) testing, short-side
resize, crops, Kinetics normalisation."""

import math
from pathlib import Path

import numpy as np
import torch
from transformers.image_utils import PILImageResampling
from transformers.processing_utils import Unpack, VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import load_video

KINETICS_MEAN = [0.45, 0.45, 0.45]  # PySlowFast's Kinetics statistics, which the MViTv2 weights were trained with
KINETICS_STD = [0.225, 0.225, 0.225]
SAMPLINGS = ("uniform", "stride")
# How PySlowFast tests its Kinetics-400 MViTv2 weights (configs/Kinetics/MVITv2_S_16x4.yaml, MVITv2_B_32x3.yaml:
# DATA.SAMPLING_RATE, DATA.TARGET_FPS, TEST.NUM_ENSEMBLE_VIEWS = 5, TEST.NUM_SPATIAL_CROPS = 1, short side
# TRAIN_JITTER_SCALES[0] = 256, TEST_CROP_SIZE = 224); the converters write these settings (with the weights'
# own `num_frames` and `frame_stride`).
KINETICS_TEST_VIEWS = {"sampling": "stride", "base_fps": 30.0, "num_clips": 5, "num_crops": 1,
                       "size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}}


class MViTv2VideoProcessorKwargs(VideosKwargs, total=False):
    sampling: str
    frame_stride: int
    base_fps: float
    num_clips: int
    num_crops: int


def stride_clip_indices(total_frames: int, num_frames: int, frame_stride: int, num_clips: int = 1,
                        video_fps: float | None = None, base_fps: float | None = None) -> np.ndarray:
    """Frame indices `(num_clips * num_frames,)` of `num_clips` clips of `num_frames` frames `frame_stride` apart.

    PySlowFast's test sampling (`decoder.get_start_end_idx` with `USE_OFFSET_SAMPLING`, `temporal_sampling`): a clip
    spans `frame_stride * num_frames` frames of a `base_fps` video (so `* video_fps / base_fps` source frames),
    clip `i` starts at `i * floor(delta / (num_clips - 1))` (one clip: centred), `delta = total - span`, and its
    frames are `linspace(start, start + span - 1, num_frames)` clamped into the video and truncated.
    """
    span = float(frame_stride * num_frames)
    if video_fps and base_fps:
        span *= video_fps / base_fps
    delta = max(total_frames - span, 0.0)
    starts = [math.floor(delta / 2)] if num_clips == 1 else [i * math.floor(delta / (num_clips - 1))
                                                            for i in range(num_clips)]
    clips = [torch.linspace(start, start + span - 1, num_frames).clamp(0, total_frames - 1).long() for start in starts]
    return torch.cat(clips).numpy()


def crop_offsets(size: int, crop: int, num_crops: int) -> list[int]:
    """Offsets of `num_crops` crops of length `crop` spread evenly over `size` (one crop: centred), rounded up as
    PySlowFast's `uniform_crop` does (3 crops: left/top, centre, right/bottom)."""
    slack = size - crop
    if num_crops == 1:
        return [math.ceil(slack / 2)]
    return [math.ceil(i * slack / (num_crops - 1)) for i in range(num_crops)]


class MViTv2VideoProcessor(BaseVideoProcessor):
    r"""
    Turns a video (a file path, or frames `(T, H, W, 3)` uint8) into MViTv2's `pixel_values`.

    Frame sampling (`do_sample_frames=True`, what the stock `video-classification` pipeline asks for):

    - `sampling="uniform"` (default): `num_frames` frames spread uniformly over the whole video.
    - `sampling="stride"`: the Kinetics weights' own sampling: `num_clips` clips of `num_frames` frames
      `frame_stride` apart (counted at `base_fps`, e.g. 4 at 30 fps for MViTv2-S 16x4), spread uniformly over the
      video (see :func:`stride_clip_indices`).

    Frames are resized (short side to `size["shortest_edge"]`), then `num_crops` crops of `crop_size` are taken
    along the longer side (one crop: the centre; three: left/top, centre, right/bottom, as PySlowFast tests; its
    3-crop protocol resizes the short side to the crop size), pixels scaled to [0, 1] and normalised with the
    Kinetics mean/std. One view gives `pixel_values` `(batch, frames, 3, h, w)`; several give
    `(batch, num_clips * num_crops, frames, 3, h, w)` (clip-major), whose scores `MViTv2ForVideoClassification`
    averages. Without frame sampling the given frames are split into `num_clips` equal clips. Paths are decoded
    with PyAV (bundled FFmpeg), so no torchcodec or system FFmpeg is needed. Converted Kinetics checkpoints default
    to their test protocol ([`KINETICS_TEST_VIEWS`]).

    Args:
        size (`dict`, *optional*, defaults to `{"shortest_edge": 256}`): resize target of the short side.
        crop_size (`dict`, *optional*, defaults to `{"height": 224, "width": 224}`): must equal the model's
            `image_size` (the relative-position tables are built for it).
        num_frames (`int`, *optional*, defaults to 16): frames per clip, the model's `num_frames`.
        sampling (`str`, *optional*, defaults to `"uniform"`): `"uniform"` or `"stride"`.
        frame_stride (`int`, *optional*, defaults to 4): frames between clip frames (`sampling="stride"`).
        base_fps (`float`, *optional*, defaults to 30.0): the frame rate `frame_stride` counts in (used when the
            video's fps is known, as PySlowFast's `TARGET_FPS`).
        num_clips (`int`, *optional*, defaults to 1): temporal clips per video (more than one needs `"stride"`).
        num_crops (`int`, *optional*, defaults to 1): spatial crops per clip.
    """

    resample = PILImageResampling.BILINEAR
    image_mean = KINETICS_MEAN
    image_std = KINETICS_STD
    size = {"shortest_edge": 256}
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = True
    num_frames = 16
    sampling = "uniform"
    frame_stride = 4
    base_fps = 30.0
    num_clips = 1
    num_crops = 1
    valid_kwargs = MViTv2VideoProcessorKwargs
    model_input_names = ["pixel_values"]

    def __init__(self, **kwargs: Unpack[MViTv2VideoProcessorKwargs]):
        super().__init__(**kwargs)
        self._check_views(self.sampling, self.frame_stride, self.base_fps, self.num_clips, self.num_crops)

    @staticmethod
    def _check_views(sampling, frame_stride, base_fps, num_clips, num_crops) -> None:
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        for name, value in (("frame_stride", frame_stride), ("num_clips", num_clips), ("num_crops", num_crops)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if base_fps is not None and not base_fps > 0:
            raise ValueError(f"base_fps must be > 0 (or None: frame_stride counts source frames), got {base_fps!r}")
        if sampling == "uniform" and num_clips > 1:
            raise ValueError(f"num_clips={num_clips} needs sampling='stride' (uniform sampling takes one clip "
                             "spread over the whole video)")

    def sample_frames(self, metadata, num_frames=None, fps=None, sampling=None, frame_stride=None, base_fps=None,
                      num_clips=None, **kwargs) -> np.ndarray:
        """Frame indices to decode: uniform over the video, or `num_clips` fixed-stride clips (concatenated)."""
        sampling = sampling or self.sampling
        if sampling != "stride":
            return super().sample_frames(metadata, num_frames=num_frames, fps=fps, **kwargs)
        if fps is not None:
            raise ValueError("fps sampling and sampling='stride' are exclusive: the stride sets the frame rate")
        return stride_clip_indices(metadata.total_num_frames, num_frames or self.num_frames,
                                   frame_stride or self.frame_stride, num_clips or self.num_clips,
                                   video_fps=metadata.fps, base_fps=base_fps)

    def fetch_videos(self, video_url_or_urls, sample_indices_fn=None):
        """Decode paths/URLs with PyAV (transformers' default needs torchcodec, which these machines cannot load).

        PyAV's reader keeps each frame once and stops at the last index, so the sorted distinct indices are
        decoded and then repeated/reordered into the requested ones (clips may overlap and clamp at the end)."""
        if isinstance(video_url_or_urls, list):
            return list(zip(*[self.fetch_videos(x, sample_indices_fn=sample_indices_fn) for x in video_url_or_urls]))
        requested = {}
        if sample_indices_fn is not None:
            def distinct_indices(metadata, **kwargs):
                requested["indices"] = np.asarray(sample_indices_fn(metadata=metadata, **kwargs))
                return np.unique(requested["indices"])
        else:
            distinct_indices = None
        local = isinstance(video_url_or_urls, (str, Path)) and not str(video_url_or_urls).startswith(
            ("http://", "https://"))
        if local:
            import av

            from ...data.video import video_info

            video_info(video_url_or_urls)  # missing, empty, corrupt or stream-less files: an error naming the file
            try:
                video, metadata = load_video(video_url_or_urls, backend="pyav", sample_indices_fn=distinct_indices)
            except (av.error.FFmpegError, IndexError, OSError, ValueError) as error:
                raise ValueError(f"could not decode the video file {str(video_url_or_urls)!r}: {error}") from None
        else:
            video, metadata = load_video(video_url_or_urls, backend="pyav", sample_indices_fn=distinct_indices)
        if "indices" in requested:
            indices = requested["indices"]
            distinct = np.unique(indices)
            if len(video) != len(distinct):
                raise ValueError(f"could not decode the video {str(video_url_or_urls)!r}: its stream reports "
                                 f"{metadata.total_num_frames} frames but only {len(video)} of the requested "
                                 f"{len(distinct)} frames up to index {distinct[-1]} decode")
            video = video[np.searchsorted(distinct, indices)]
            metadata.frames_indices = indices
        return video, metadata

    def _preprocess(self, videos, do_center_crop, crop_size, return_tensors=None, sampling=None, frame_stride=None,
                    base_fps=None, num_clips=None, num_crops=None, **kwargs):
        """Resize + normalise (transformers), then split every video into `num_clips` clips x `num_crops` crops."""
        num_clips, num_crops = num_clips or self.num_clips, num_crops or self.num_crops
        self._check_views(sampling or self.sampling, frame_stride or self.frame_stride, base_fps, num_clips,
                          num_crops)
        batch = super()._preprocess(videos, do_center_crop=False, crop_size=crop_size, return_tensors=None, **kwargs)
        crop = (crop_size.height, crop_size.width) if do_center_crop or num_crops > 1 else None
        views = [self.views(video, num_clips, num_crops, crop) for video in batch.pop("pixel_values_videos")]
        batch["pixel_values"] = views  # the name MViTv2's forward (and BMViT's) takes
        batch.convert_to_tensors(return_tensors)
        return batch

    @staticmethod
    def views(video: torch.Tensor, num_clips: int, num_crops: int, crop: tuple[int, int] | None) -> torch.Tensor:
        """`(num_clips * T, C, H, W)` -> `(T, C, h, w)` for one view, else `(num_clips * num_crops, T, C, h, w)`.

        Crops are spread along the axis with more room (the long side for square crops) and centred on the
        other; `crop=None` keeps the full frame."""
        if len(video) % num_clips:
            raise ValueError(f"a video of {len(video)} frames cannot be split into num_clips={num_clips} equal clips "
                             "(with do_sample_frames=False pass num_clips * num_frames frames)")
        height, width = video.shape[-2:]
        if crop is None:
            boxes = [(0, 0)]
            crop = (height, width)
        else:
            if crop[0] > height or crop[1] > width:
                raise ValueError(f"crop_size {crop} is larger than the resized frames {(height, width)}: "
                                 "raise size['shortest_edge']")
            along_height = height - crop[0] > width - crop[1]
            tops = crop_offsets(height, crop[0], num_crops if along_height else 1)
            lefts = crop_offsets(width, crop[1], 1 if along_height else num_crops)
            boxes = [(top, left) for top in tops for left in lefts]
        clips = video.unflatten(0, (num_clips, -1))
        views = [clip[..., top:top + crop[0], left:left + crop[1]] for clip in clips for top, left in boxes]
        return views[0] if len(views) == 1 else torch.stack(views)


__all__ = ["KINETICS_MEAN", "KINETICS_STD", "KINETICS_TEST_VIEWS", "MViTv2VideoProcessor", "crop_offsets",
           "stride_clip_indices"]
