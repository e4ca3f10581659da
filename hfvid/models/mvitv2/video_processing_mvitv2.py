"""MViTv2's video processor: uniform frame sampling, short-side resize, centre crop, Kinetics normalisation."""

from pathlib import Path

from transformers.image_utils import PILImageResampling
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import load_video

KINETICS_MEAN = [0.45, 0.45, 0.45]  # PySlowFast's Kinetics statistics, which the MViTv2 weights were trained with
KINETICS_STD = [0.225, 0.225, 0.225]


class MViTv2VideoProcessor(BaseVideoProcessor):
    r"""
    Turns a video (a file path, or frames `(T, H, W, 3)` uint8) into MViTv2's `pixel_values` `(batch, frames, 3, h, w)`.

    Kinetics evaluation style: `num_frames` frames spread uniformly over the whole video (`do_sample_frames=True`,
    what the stock `video-classification` pipeline asks for), the short side resized to `size["shortest_edge"]`, a
    centre crop of `crop_size`, pixels scaled to [0, 1] and normalised with the Kinetics mean/std. Paths are decoded
    with PyAV (bundled FFmpeg), so no torchcodec or system FFmpeg is needed.

    Args:
        size (`dict`, *optional*, defaults to `{"shortest_edge": 256}`): resize target of the short side.
        crop_size (`dict`, *optional*, defaults to `{"height": 224, "width": 224}`): must equal the model's
            `image_size` (the relative-position tables are built for it).
        num_frames (`int`, *optional*, defaults to 16): frames per clip, the model's `num_frames`.
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
    model_input_names = ["pixel_values"]

    def fetch_videos(self, video_url_or_urls, sample_indices_fn=None):
        """Decode paths/URLs with PyAV (transformers' default needs torchcodec, which these machines cannot load)."""
        if isinstance(video_url_or_urls, list):
            return list(zip(*[self.fetch_videos(x, sample_indices_fn=sample_indices_fn) for x in video_url_or_urls]))
        if isinstance(video_url_or_urls, (str, Path)) and not str(video_url_or_urls).startswith(("http://", "https://")):
            import av

            from ...data.video import video_info

            video_info(video_url_or_urls)  # missing, empty, corrupt or stream-less files: an error naming the file
            try:
                return load_video(video_url_or_urls, backend="pyav", sample_indices_fn=sample_indices_fn)
            except (av.error.FFmpegError, IndexError, OSError, ValueError) as error:
                raise ValueError(f"could not decode the video file {str(video_url_or_urls)!r}: {error}") from None
        return load_video(video_url_or_urls, backend="pyav", sample_indices_fn=sample_indices_fn)

    def _preprocess(self, videos, **kwargs):
        batch = super()._preprocess(videos, **kwargs)
        batch["pixel_values"] = batch.pop("pixel_values_videos")  # the name MViTv2's forward (and BMViT's) takes
        return batch


__all__ = ["KINETICS_MEAN", "KINETICS_STD", "MViTv2VideoProcessor"]
