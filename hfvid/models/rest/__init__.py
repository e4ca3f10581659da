"""REST: REtrieve & Self-Train a generative captioner for zero-shot action recognition (arXiv:2209.15000)."""

from .configuration_rest import RESTConfig
from .modeling_blip_video import RESTBlipVideoCaptioner
from .modeling_rest import (
    RESTCaptioningOutput,
    RESTForVideoCaptioning,
    RESTForZeroShotVideoClassification,
    RESTPreTrainedModel,
    RESTZeroShotOutput,
)
from .processing_rest import (
    RESTProcessor,
    RESTVideoProcessor,
    captioner_video_processor,
    load_video_frames,
    sample_frame_indices,
)
from .retrieval import build_caption_pool, normalize_caption, retrieve_topk

__all__ = [
    "RESTBlipVideoCaptioner",
    "RESTCaptioningOutput",
    "RESTConfig",
    "RESTForVideoCaptioning",
    "RESTForZeroShotVideoClassification",
    "RESTPreTrainedModel",
    "RESTProcessor",
    "RESTVideoProcessor",
    "RESTZeroShotOutput",
    "build_caption_pool",
    "captioner_video_processor",
    "load_video_frames",
    "normalize_caption",
    "retrieve_topk",
    "sample_frame_indices",
]
