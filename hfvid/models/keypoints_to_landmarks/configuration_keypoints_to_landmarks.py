"""Configuration of Keypoints-to-Landmarks (unsupervised object landmark discovery by self-training correspondence)."""

from transformers import PreTrainedConfig

from ...configuration_utils import check_choice, check_positive, hfvid_config
from ...modules.heatmaps import DECODE_METHODS

VARIANTS = ("tpami", "neurips")


@hfvid_config
class KeypointsToLandmarksConfig(PreTrainedConfig):
    r"""
    Configuration of [`KeypointsToLandmarksModel`] (stage 1: keypoint detector + descriptor) and
    [`KeypointsToLandmarksForLandmarkDetection`] (stage 2: K-landmark heatmaps), after Mallis, Sanchez, Bell and
    Tzimiropoulos, "From Keypoints to Object Landmarks via Self-Training Correspondence" (TPAMI 2023,
    arXiv:2205.15895; NeurIPS 2020 version behind `variant="neurips"`).

    The network is a single-stack FAN (hourglass) with GroupNorm; stage 1 has a sigmoid detector head and a
    descriptor head, stage 2 replaces the descriptor head's last 1x1 convolution by one with `num_landmarks` outputs.
    Defaults are the official code's; fields marked *[ours]* are not in the paper.

    Args:
        num_landmarks (`int`, *optional*, defaults to 10): K, landmarks of the final detector (paper: 10 and 30).
        num_clusters (`int`, *optional*, defaults to 100): M > K, clusters of the stage-1 pseudo-labels (250 bodies).
        variant (`str`, *optional*, defaults to `"tpami"`): `"tpami"` (K-then-M clustering, within-image negatives)
            or `"neurips"` (Hungarian assignment to M clusters).
        image_size (`int`, *optional*, defaults to 256): square crop side.
        heatmap_size (`int`, *optional*, defaults to 64): detector / descriptor / heatmap side, `image_size / 4`.
        hidden_size (`int`, *optional*, defaults to 256): hourglass width (multiple of 4).
        stem_channels (`int`, *optional*, defaults to 64): channels of the first 7x7 convolution.
        hourglass_depth (`int`, *optional*, defaults to 4): recursion depth of the hourglass.
        num_groups (`int`, *optional*, defaults to 32): GroupNorm groups (`gcd(num_groups, channels)` per layer).
        descriptor_dim (`int`, *optional*, defaults to 256): descriptor channels of stage 1.
        detector_threshold (`float`, *optional*, defaults to 0.15): detection-map threshold for keypoints.
        detector_nms_radius (`int`, *optional*, defaults to 2): NMS half-size on the heatmap grid.
        detector_border (`int`, *optional*, defaults to 0): detections closer than this to the map edge (grid px) are
            dropped, as SuperPoint drops a 4-px image border; the zero-padded edge is an easy, object-independent
            "keypoint" that self-training can lock onto (0 = paper) *[ours]*.
        max_keypoints (`int`, *optional*, defaults to 200): at most this many detections per image *[ours]*.
        min_keypoints (`int`, *optional*, defaults to 0): when fewer detections pass the threshold, the strongest
            NMS peaks below it fill up to this many (a fallback for young detectors; 0 = paper) *[ours]*.
        keypoint_threshold (`float`, *optional*, defaults to 0.15): SuperPoint score threshold (initialisation).
        keypoint_nms_px (`float`, *optional*, defaults to 8.0): SuperPoint NMS square side at the reference height.
        keypoint_nms_reference_height (`float`, *optional*, defaults to 218.0): image height the NMS side refers to.
        outlier_fraction (`float`, *optional*, defaults to 0.4): share of initial keypoints dropped as outliers.
        outlier_neighbors (`int`, *optional*, defaults to 100): neighbours of the outlier score (median distance).
        contrastive_margin (`float`, *optional*, defaults to 0.8): margin m of the negative descriptor term.
        descriptor_loss_weight (`float`, *optional*, defaults to 10.0): weight of the descriptor loss.
        pairs_per_sample (`int`, *optional*, defaults to 5000): negative pairs per view.
        min_negative_distance (`float`, *optional*, defaults to 5.7): negatives closer than this (grid px) are dropped.
        stage2_backbone_lr_ratio (`float`, *optional*, defaults to 0.1): backbone lr / head lr in stage 2.
        stage2_gaussian_sigma (`float`, *optional*, defaults to 0.75): sigma of the 3x3 target stamp (grid px).
        landmark_head_init_std (`float`, *optional*, defaults to 0.001): std of the normal init of the stage-2 head's
            new last conv (bias 0), so training starts from near-zero heatmaps (official code: PyTorch's default
            conv init) *[ours]*.
        decode_method (`str`, *optional*, defaults to `"argmax"`): heatmap decoder (paper: plain argmax).
        flip_permutation (`list[int]`, *optional*): mirror table of the K landmarks, learned in stage 1;
            `None` disables flip augmentation and flip test.

    Example:

    ```python
    >>> from hfvid import KeypointsToLandmarksConfig, KeypointsToLandmarksForLandmarkDetection
    >>> config = KeypointsToLandmarksConfig(num_landmarks=5, num_clusters=10, hidden_size=32, hourglass_depth=2,
    ...                                     image_size=64, heatmap_size=16, descriptor_dim=16)
    >>> model = KeypointsToLandmarksForLandmarkDetection(config)
    ```
    """

    model_type = "hfvid-keypoints-to-landmarks"

    num_landmarks: int = 10
    num_clusters: int = 100
    variant: str = "tpami"
    image_size: int = 256
    heatmap_size: int = 64
    hidden_size: int = 256
    stem_channels: int = 64
    hourglass_depth: int = 4
    num_groups: int = 32
    descriptor_dim: int = 256
    detector_threshold: float = 0.15
    detector_nms_radius: int = 2
    detector_border: int = 0
    max_keypoints: int = 200
    min_keypoints: int = 0
    keypoint_threshold: float = 0.15
    keypoint_nms_px: float = 8.0
    keypoint_nms_reference_height: float = 218.0
    outlier_fraction: float = 0.4
    outlier_neighbors: int = 100
    contrastive_margin: float = 0.8
    descriptor_loss_weight: float = 10.0
    pairs_per_sample: int = 5000
    min_negative_distance: float = 5.7
    stage2_backbone_lr_ratio: float = 0.1
    stage2_gaussian_sigma: float = 0.75
    landmark_head_init_std: float = 0.001
    decode_method: str = "argmax"
    flip_permutation: list[int] | None = None

    def __post_init__(self, **kwargs):
        for name in ("num_landmarks", "num_clusters", "image_size", "heatmap_size", "hidden_size", "stem_channels",
                     "hourglass_depth", "num_groups", "descriptor_dim", "max_keypoints", "outlier_neighbors",
                     "pairs_per_sample", "keypoint_nms_px", "keypoint_nms_reference_height", "contrastive_margin",
                     "stage2_gaussian_sigma", "stage2_backbone_lr_ratio", "landmark_head_init_std"):
            check_positive(name, getattr(self, name))
        check_choice("variant", self.variant, VARIANTS)
        check_choice("decode_method", self.decode_method, DECODE_METHODS)
        if self.num_landmarks > self.num_clusters:
            raise ValueError(
                f"num_landmarks (K={self.num_landmarks}) must not exceed num_clusters (M={self.num_clusters}): the "
                "M-clustering over-segments the K landmarks"
            )
        if self.hidden_size % 4:
            raise ValueError(f"hidden_size must be a multiple of 4, got {self.hidden_size}")
        if self.image_size != 4 * self.heatmap_size:
            raise ValueError(f"heatmap_size must be image_size / 4 (stride-4 FAN stem), got image_size="
                             f"{self.image_size} and heatmap_size={self.heatmap_size}")
        if self.heatmap_size % 2**self.hourglass_depth:
            raise ValueError(f"heatmap_size={self.heatmap_size} must be divisible by 2**hourglass_depth "
                             f"= {2**self.hourglass_depth}")
        for name in ("detector_threshold", "keypoint_threshold"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.outlier_fraction < 1:
            raise ValueError(f"outlier_fraction must be in [0, 1), got {self.outlier_fraction}")
        if not 0 <= self.min_keypoints <= self.max_keypoints:
            raise ValueError(f"min_keypoints must be in [0, max_keypoints={self.max_keypoints}], "
                             f"got {self.min_keypoints}")
        if self.detector_nms_radius < 0 or self.min_negative_distance < 0 or self.descriptor_loss_weight < 0:
            raise ValueError("detector_nms_radius, min_negative_distance and descriptor_loss_weight must be >= 0")
        if not 0 <= 2 * self.detector_border < self.heatmap_size:
            raise ValueError(f"detector_border must be in [0, heatmap_size / 2 = {self.heatmap_size / 2}), "
                             f"got {self.detector_border}")
        if self.flip_permutation is not None and sorted(self.flip_permutation) != list(range(self.num_landmarks)):
            raise ValueError(f"flip_permutation must be a permutation of range(num_landmarks={self.num_landmarks}), "
                             f"got {self.flip_permutation}")
        super().__post_init__(**kwargs)


__all__ = ["KeypointsToLandmarksConfig"]
