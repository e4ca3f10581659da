"""Configuration of Subpixel Heatmap Regression (SH-FAN)."""

from transformers import PreTrainedConfig

from ...configuration_utils import check_choice, check_positive, hfvid_config
from ...modules.heatmaps import DECODE_METHODS, ENCODINGS, EYE_CORNERS, FLIP_PERMUTATIONS

LANDMARK_SCHEMES = ("ibug68", "wflw98", "cofw29", "aflw19", "custom")
SCHEME_SIZES = {"ibug68": 68, "wflw98": 98, "cofw29": 29, "aflw19": 19}


@hfvid_config
class SubpixelFANConfig(PreTrainedConfig):
    r"""
    Configuration of [`SubpixelFANModel`] and [`SubpixelFANForFacialLandmarkDetection`]: a FAN stacked-hourglass
    network trained with continuous heatmap targets, decoded with local soft-argmax, and regularised with a Siamese
    transformation-consistency loss (Bulat, Sanchez, Tzimiropoulos, BMVC 2021, arXiv:2111.02360).

    Defaults are the paper's setting for 68-point faces; values the paper text could not confirm are marked
    *[unverified]* and are ours.

    Args:
        num_landmarks (`int`, *optional*, defaults to 68): number of landmarks N (68 300W, 98 WFLW, 29 COFW, 19 AFLW).
        num_stacks (`int`, *optional*, defaults to 4): hourglass stacks, each supervised *[unverified: FAN-4]*.
        hourglass_depth (`int`, *optional*, defaults to 4): recursion depth of each hourglass.
        hidden_size (`int`, *optional*, defaults to 256): hourglass width (multiple of 4).
        stem_channels (`int`, *optional*, defaults to 64): channels of the first 7x7 convolution.
        norm_type (`str`, *optional*, defaults to `"batch"`): `"batch"` (FAN parity) or `"group"` (tiny batches).
        norm_num_groups (`int`, *optional*, defaults to 8): groups of `"group"` normalisation (gcd with channels).
        image_size (`int`, *optional*, defaults to 256): square crop fed to the network.
        heatmap_size (`int`, *optional*, defaults to 64): heatmap side, always `image_size / 4`.
        heatmap_sigma (`float`, *optional*, defaults to 2.0): target Gaussian std in heatmap pixels *[unverified]*.
        encoding (`str`, *optional*, defaults to `"continuous"`): `"continuous"`, `"rounded"` (ablation) or
            `"bilinear"` target rendering.
        decode_method (`str`, *optional*, defaults to `"local_soft_argmax"`): also `"argmax"`,
            `"argmax_quarter_shift"` (face-alignment parity) and `"soft_argmax"`.
        decode_window (`int`, *optional*, defaults to 5): odd window of local soft-argmax (paper ablation: 5).
        decode_temperature (`float`, *optional*, defaults to 10.0): softmax temperature *[unverified]*.
        decode_normalize_peak (`bool`, *optional*, defaults to `False`): divide the window by its peak before the
            softmax (amplitude-invariant decoding; ours).
        consistency_weight (`float`, *optional*, defaults to 1.0): lambda of the Siamese term *[unverified]*.
        consistency_space (`str`, *optional*, defaults to `"heatmap"`): `"heatmap"` (paper) or `"coords"`.
        landmark_scheme (`str`, *optional*, defaults to `"ibug68"`): `"ibug68"`, `"wflw98"`, `"cofw29"`,
            `"aflw19"` or `"custom"`; fills `flip_permutation` and `eye_indices` when they are not given.
        flip_permutation (`list[int]`, *optional*): mirror table; `None` disables flip augmentation and flip test.
        eye_indices (`list[int]`, *optional*): outer eye corners for the inter-ocular NME.
        channels_last (`bool`, *optional*, defaults to `True`): run inference (eval mode, no autograd) in
            channels-last memory layout, which oneDNN (CPU) and cuDNN (GPU, with half precision) convolutions take
            without layout reorders; same values. Training keeps the default layout.
        cpu_inference_chunk_size (`int`, *optional*, defaults to 2): at inference on the CPU, run the network on
            this many crops at a time (`None` or 0: the whole batch at once). A FAN-4 crop has 4 MB feature maps;
            batch 8 at once ran 1.3x slower per crop than chunks of 2 on a 2-core EPYC with 32 MB L3 (chunks of
            1: 1.06x, of 4: 1.08x). Results are the same either way.

    Example:

    ```python
    >>> from hfvid import SubpixelFANConfig, SubpixelFANForFacialLandmarkDetection
    >>> config = SubpixelFANConfig(num_stacks=1, hidden_size=64, hourglass_depth=2, image_size=64, heatmap_size=16)
    >>> model = SubpixelFANForFacialLandmarkDetection(config)
    ```
    """

    model_type = "hfvid-subpixel-fan"

    num_landmarks: int = 68
    num_stacks: int = 4
    hourglass_depth: int = 4
    hidden_size: int = 256
    stem_channels: int = 64
    norm_type: str = "batch"
    norm_num_groups: int = 8
    image_size: int = 256
    heatmap_size: int = 64
    heatmap_sigma: float = 2.0
    encoding: str = "continuous"
    decode_method: str = "local_soft_argmax"
    decode_window: int = 5
    decode_temperature: float = 10.0
    decode_normalize_peak: bool = False
    consistency_weight: float = 1.0
    consistency_space: str = "heatmap"
    landmark_scheme: str = "ibug68"
    flip_permutation: list[int] | None = None
    eye_indices: list[int] | None = None
    channels_last: bool = True
    cpu_inference_chunk_size: int | None = 2

    def __post_init__(self, **kwargs):
        check_choice("landmark_scheme", self.landmark_scheme, LANDMARK_SCHEMES)
        expected = SCHEME_SIZES.get(self.landmark_scheme)
        if expected is not None and self.num_landmarks != expected:
            raise ValueError(
                f"num_landmarks={self.num_landmarks} does not match landmark_scheme={self.landmark_scheme!r} "
                f"({expected} points); use landmark_scheme='custom' for other layouts"
            )
        if self.flip_permutation is None and self.landmark_scheme in FLIP_PERMUTATIONS:
            self.flip_permutation = list(FLIP_PERMUTATIONS[self.landmark_scheme])
        if self.eye_indices is None and self.landmark_scheme in EYE_CORNERS:
            self.eye_indices = list(EYE_CORNERS[self.landmark_scheme])
        for name in ("num_landmarks", "num_stacks", "hourglass_depth", "hidden_size", "stem_channels"):
            check_positive(name, getattr(self, name))
        check_positive("heatmap_sigma", self.heatmap_sigma)
        check_positive("decode_temperature", self.decode_temperature)
        check_choice("norm_type", self.norm_type, ("batch", "group"))
        check_choice("encoding", self.encoding, ENCODINGS)
        check_choice("decode_method", self.decode_method, DECODE_METHODS)
        check_choice("consistency_space", self.consistency_space, ("heatmap", "coords"))
        if self.hidden_size % 4:
            raise ValueError(f"hidden_size must be a multiple of 4, got {self.hidden_size}")
        if self.decode_window < 1 or self.decode_window % 2 == 0:
            raise ValueError(f"decode_window must be a positive odd number, got {self.decode_window}")
        if self.image_size != 4 * self.heatmap_size:
            raise ValueError(
                f"heatmap_size must be image_size / 4 (the FAN stem has stride 4), got image_size={self.image_size}"
                f" and heatmap_size={self.heatmap_size}"
            )
        if self.image_size % (4 * 2**self.hourglass_depth):
            raise ValueError(
                f"image_size={self.image_size} must be divisible by 4 * 2**hourglass_depth "
                f"= {4 * 2**self.hourglass_depth}"
            )
        if self.cpu_inference_chunk_size is not None and self.cpu_inference_chunk_size < 0:
            raise ValueError(f"cpu_inference_chunk_size must be >= 0 or None, got {self.cpu_inference_chunk_size}")
        if self.consistency_weight < 0:
            raise ValueError(f"consistency_weight must be >= 0, got {self.consistency_weight}")
        if self.flip_permutation is not None:
            perm = list(self.flip_permutation)
            if sorted(perm) != list(range(self.num_landmarks)):
                raise ValueError(
                    f"flip_permutation must be a permutation of range(num_landmarks={self.num_landmarks}), "
                    f"got {len(perm)} entries"
                )
            if [perm[p] for p in perm] != list(range(self.num_landmarks)):
                raise ValueError("flip_permutation must be an involution (applying it twice gives the identity)")
        if self.eye_indices is not None and (
            len(self.eye_indices) != 2 or not all(0 <= i < self.num_landmarks for i in self.eye_indices)
        ):
            raise ValueError(f"eye_indices must be two landmark indices < {self.num_landmarks}, got {self.eye_indices}")
        super().__post_init__(**kwargs)


__all__ = ["SubpixelFANConfig"]
