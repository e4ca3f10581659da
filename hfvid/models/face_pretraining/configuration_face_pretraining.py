"""Configuration of FRL: facial representation pre-training (SwAV on faces) and its few-shot task heads."""

from transformers import PreTrainedConfig, ResNetConfig

from ...configuration_utils import check_choice, check_flip_permutation, check_positive, hfvid_config

# SwAV / FRL normalisation (the 0.228 first-channel std is inherited from SwAV's code: keep it for weight parity).
FRL_IMAGE_MEAN = [0.485, 0.456, 0.406]
FRL_IMAGE_STD = [0.228, 0.224, 0.225]


@hfvid_config
class FaceRepresentationConfig(PreTrainedConfig):
    r"""
    Configuration of [`FaceRepresentationModel`] (a transformers `ResNetModel` face encoder), its SwAV pre-training
    head ([`FaceRepresentationForSwAVPreTraining`]), the supervised identity pre-training variant and the task heads
    of the few-shot face benchmark (Bulat et al., "Pre-training strategies and datasets for facial representation
    learning", ECCV 2022, arXiv:2103.16554).

    Backbone and SwAV defaults are those of the official code (ResNet-50, 2 x 224 + 6 x 96 crops, 3000 prototypes).
    Task-head choices the paper text could not confirm are marked *[unverified]* and are ours.

    Args:
        num_channels (`int`, *optional*, defaults to 3): input channels.
        embedding_size (`int`, *optional*, defaults to 64): channels of the 7x7 stem.
        hidden_sizes (`list[int]`, *optional*, defaults to `[256, 512, 1024, 2048]`): output channels per stage.
        depths (`list[int]`, *optional*, defaults to `[3, 4, 6, 3]`): blocks per stage (ResNet-50).
        layer_type (`str`, *optional*, defaults to `"bottleneck"`): `"bottleneck"` (ResNet-50) or `"basic"` (-18/34).
        image_size (`int`, *optional*, defaults to 224): input side of the global crops and the task heads.
        normalize_pooled_output (`bool`, *optional*, defaults to `False`): L2-normalise `pooler_output` (so the stock
            `image-feature-extraction` pipeline returns unit-norm embeddings).
        projection_hidden_size (`int`, *optional*, defaults to 2048): SwAV projection MLP width.
        projection_dim (`int`, *optional*, defaults to 128): SwAV embedding size.
        num_prototypes (`int`, *optional*, defaults to 3000): SwAV prototypes K.
        temperature (`float`, *optional*, defaults to 0.1): softmax temperature tau of the swapped prediction.
        sinkhorn_epsilon (`float`, *optional*, defaults to 0.05): entropic regularisation of Sinkhorn-Knopp.
        sinkhorn_iterations (`int`, *optional*, defaults to 3): Sinkhorn-Knopp iterations.
        crops_for_assign (`list[int]`, *optional*, defaults to `[0, 1]`): crops whose codes are computed.
        num_crops (`list[int]`, *optional*, defaults to `[2, 6]`): crops per resolution.
        crop_sizes (`list[int]`, *optional*, defaults to `[224, 96]`): crop resolutions.
        min_scale_crops (`list[float]`, *optional*, defaults to `[0.14, 0.05]`): RandomResizedCrop min scales.
        max_scale_crops (`list[float]`, *optional*, defaults to `[1.0, 0.14]`): RandomResizedCrop max scales.
        queue_length (`int`, *optional*, defaults to 0): SwAV queue (0 = off, as in the shipped script).
        epoch_queue_starts (`int`, *optional*, defaults to 15): first epoch that uses the queue.
        freeze_prototypes_niters (`int`, *optional*, defaults to 313): iterations with frozen prototypes.
        num_identities (`int`, *optional*, defaults to 8631): identity classes of the supervised pre-training /
            recognition head (VGGFace2 train identities).
        recognition_embedding_size (`int`, *optional*, defaults to 512): face-recognition embedding size
            *[unverified]*.
        arcface_scale (`float`, *optional*, defaults to 64.0): ArcFace logit scale s.
        arcface_margin (`float`, *optional*, defaults to 0.5): ArcFace additive angular margin m.
        num_landmarks (`int`, *optional*, defaults to 68): landmarks of the alignment head.
        flip_permutation (`list[int]`, *optional*): the landmarks' mirror table (point `i` of a mirrored face is
            point `flip_permutation[i]`), e.g. `hfvid.modules.heatmaps.IBUG68_FLIP_PERMUTATION`; enables
            `flip_test` of the alignment head (`None`: no mirror table, `flip_test=True` is refused).
        heatmap_size (`int`, *optional*, defaults to 56): side of the landmark heatmaps (`image_size / 4`).
        heatmap_sigma (`float`, *optional*, defaults to 1.5): target Gaussian std in heatmap pixels *[unverified]*.
        head_channels (`int`, *optional*, defaults to 256): width of the deconvolution landmark head (SimpleBaseline
            style) *[unverified]*.
        num_action_units (`int`, *optional*, defaults to 12): AU intensities regressed (DISFA's 12 AUs).
        max_au_intensity (`float`, *optional*, defaults to 5.0): AU intensity range is `[0, max_au_intensity]`.
        num_expressions (`int`, *optional*, defaults to 8): expression classes (AffectNet 0-7).
        valence_arousal_weight (`float`, *optional*, defaults to 1.0): weight of the V/A loss beside the CE.
        num_3d_landmarks (`int`, *optional*, defaults to 68): 3D landmarks regressed by the 3D alignment head.
        head_dropout (`float`, *optional*, defaults to 0.0): dropout before the linear task heads.

    Example:

    ```python
    >>> from hfvid import FaceRepresentationConfig, FaceRepresentationModel
    >>> config = FaceRepresentationConfig(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
    ...                                   layer_type="basic", image_size=64)
    >>> model = FaceRepresentationModel(config)
    ```
    """

    model_type = "hfvid-face-pretraining"

    num_channels: int = 3
    embedding_size: int = 64
    hidden_sizes: list[int] | None = None
    depths: list[int] | None = None
    layer_type: str = "bottleneck"
    image_size: int = 224
    normalize_pooled_output: bool = False
    projection_hidden_size: int = 2048
    projection_dim: int = 128
    num_prototypes: int = 3000
    temperature: float = 0.1
    sinkhorn_epsilon: float = 0.05
    sinkhorn_iterations: int = 3
    crops_for_assign: list[int] | None = None
    num_crops: list[int] | None = None
    crop_sizes: list[int] | None = None
    min_scale_crops: list[float] | None = None
    max_scale_crops: list[float] | None = None
    queue_length: int = 0
    epoch_queue_starts: int = 15
    freeze_prototypes_niters: int = 313
    num_identities: int = 8631
    recognition_embedding_size: int = 512
    arcface_scale: float = 64.0
    arcface_margin: float = 0.5
    num_landmarks: int = 68
    flip_permutation: list[int] | None = None
    heatmap_size: int = 56
    heatmap_sigma: float = 1.5
    head_channels: int = 256
    num_action_units: int = 12
    max_au_intensity: float = 5.0
    num_expressions: int = 8
    valence_arousal_weight: float = 1.0
    num_3d_landmarks: int = 68
    head_dropout: float = 0.0

    def __post_init__(self, **kwargs):
        defaults = {
            "hidden_sizes": [256, 512, 1024, 2048], "depths": [3, 4, 6, 3], "crops_for_assign": [0, 1],
            "num_crops": [2, 6], "crop_sizes": [224, 96], "min_scale_crops": [0.14, 0.05],
            "max_scale_crops": [1.0, 0.14],
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.min_scale_crops = [float(v) for v in self.min_scale_crops]
        self.max_scale_crops = [float(v) for v in self.max_scale_crops]
        check_choice("layer_type", self.layer_type, ("basic", "bottleneck"))
        if len(self.hidden_sizes) != len(self.depths) or not self.depths:
            raise ValueError(f"hidden_sizes and depths must have the same non-zero length, got {self.hidden_sizes} "
                             f"and {self.depths}")
        for name in ("num_channels", "embedding_size", "image_size", "projection_hidden_size", "projection_dim",
                     "num_prototypes", "sinkhorn_iterations", "num_identities", "recognition_embedding_size",
                     "num_landmarks", "heatmap_size", "head_channels", "num_action_units", "num_expressions",
                     "num_3d_landmarks", "temperature", "sinkhorn_epsilon", "arcface_scale", "heatmap_sigma",
                     "max_au_intensity"):
            check_positive(name, getattr(self, name))
        if self.flip_permutation is not None:
            check_flip_permutation("flip_permutation", self.flip_permutation, self.num_landmarks)
        for name in ("hidden_sizes", "depths", "num_crops", "crop_sizes"):
            if not all(v > 0 for v in getattr(self, name)):
                raise ValueError(f"{name} must hold positive integers, got {getattr(self, name)}")
        if not (len(self.num_crops) == len(self.crop_sizes) == len(self.min_scale_crops) == len(self.max_scale_crops)):
            raise ValueError("num_crops, crop_sizes, min_scale_crops and max_scale_crops must have the same length")
        for low, high in zip(self.min_scale_crops, self.max_scale_crops):
            if not 0 < low <= high <= 1:
                raise ValueError(f"min_scale_crops/max_scale_crops must satisfy 0 < min <= max <= 1, got {low}, {high}")
        total = sum(self.num_crops)
        if not self.crops_for_assign or not all(0 <= i < total for i in self.crops_for_assign):
            raise ValueError(f"crops_for_assign must index the {total} crops, got {self.crops_for_assign}")
        if total < 2:
            raise ValueError(f"num_crops must give at least 2 crops (swapped prediction), got {self.num_crops}")
        for name in ("queue_length", "epoch_queue_starts", "freeze_prototypes_niters"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.head_dropout < 1:
            raise ValueError(f"head_dropout must be in [0, 1), got {self.head_dropout}")
        if self.arcface_margin < 0 or self.valence_arousal_weight < 0:
            raise ValueError("arcface_margin and valence_arousal_weight must be >= 0")
        super().__post_init__(**kwargs)

    def resnet_config(self) -> ResNetConfig:
        """The transformers `ResNetConfig` of the backbone (torchvision-style v1.5: stride in the 3x3 conv)."""
        return ResNetConfig(
            num_channels=self.num_channels, embedding_size=self.embedding_size, hidden_sizes=list(self.hidden_sizes),
            depths=list(self.depths), layer_type=self.layer_type, downsample_in_first_stage=False,
            downsample_in_bottleneck=False,
        )

    @property
    def hidden_size(self) -> int:
        """Channels of the pooled feature (2048 for ResNet-50)."""
        return self.hidden_sizes[-1]


__all__ = ["FRL_IMAGE_MEAN", "FRL_IMAGE_STD", "FaceRepresentationConfig"]
