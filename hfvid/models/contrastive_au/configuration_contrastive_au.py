"""Configuration of Contrastive AU (Sanchez, Bulat, Zaganidis, Tzimiropoulos, ACCV 2020, arXiv:2011.01864)."""

from transformers import PreTrainedConfig, ResNetConfig
from transformers.configuration_utils import SubConfigSpec

from ...configuration_utils import check_choice, check_positive, hfvid_config
from ...modules.backbone_init import check_backbone_init

PRETEXTS = ("predictive", "instance")
TEMPORAL_TYPES = ("gru", "transformer")
LABEL_SAMPLINGS = ("per_video", "pooled")
DISFA_AU_NAMES = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26"]


@hfvid_config
class ContrastiveAUConfig(PreTrainedConfig):
    r"""
    Configuration of the Contrastive AU models: a per-frame ResNet feature extractor `f`, a recurrent temporal
    module `g` (stage 1: contrastive pre-training on unlabelled videos; stage 2: a per-frame AU-intensity regressor
    trained on a few randomly chosen labelled frames, back-propagating through time). The paper body could not be
    read: the structure is the abstract's, everything else is *[unverified]* and ours (spec defaults).

    Args:
        backbone_config (`ResNetConfig` or `dict`, *optional*): `f`; default ResNet-18 layout (basic, `[2, 2, 2, 2]`,
            `[64, 128, 256, 512]`).
        backbone_init (`str`, *optional*, defaults to `"random"`): where the backbone's weights start when the model
            is built from this config: `"random"`, `"torchvision:resnet18"` (torchvision's ImageNet weights; or
            `"torchvision:<state-dict file>"`), or a Hub id / folder of a transformers ResNet checkpoint (e.g.
            `microsoft/resnet-18`) or of an hfvid face pre-training model. The source must match `backbone_config`
            (a clear error names the difference). `from_pretrained` ignores it (the checkpoint's weights win); it is
            kept in the saved config as the run's provenance. See `hfvid.modules.backbone_init`.
        image_size (`int`, *optional*, defaults to 128): face-crop side.
        feature_dim (`int`, *optional*, defaults to 512): pooled frame feature `v_t` (= backbone last hidden size).
        temporal_type (`str`, *optional*, defaults to `"gru"`): `"gru"` (causal, streamable) or `"transformer"`.
        temporal_hidden_size, temporal_num_layers (defaults 512, 1): `g`.
        pretext (`str`, *optional*, defaults to `"predictive"`): stage-1 objective: `"predictive"` (CPC/DPC-style:
            the GRU state after `num_observed_steps` frames predicts the embeddings of the next
            `num_predicted_steps` frames; negatives = every other (clip, step) of the batch) or `"instance"`
            (clip-level: the two halves of a clip are positives, other clips negatives).
        num_observed_steps, num_predicted_steps, frame_stride (defaults 5, 3, 2): stage-1 clip layout.
        embedding_dim, projection_hidden_size, temperature (defaults 128, 512, 0.1): InfoNCE heads and tau.
        global_negatives (`bool`, *optional*, defaults to `False`): under multi-process training, score each rank's
            predictions against the targets gathered from *every* rank (differentiable all-gather), so the
            negatives are the global batch; no effect without an initialised process group of size > 1. The spec
            names the option (`--global_negatives`); the default (per-device negatives) is our reading.
        num_aus, au_names (defaults 12, DISFA order): K outputs; BP4D/FERA2015 uses 5 (`AU06 AU10 AU12 AU14 AU17`).
        intensity_range (`list[float]`, defaults `[0.0, 5.0]`): predictions are clamped to it at inference only.
        regressor_hidden_size (`int`, defaults to 0): 0 = a Linear regressor, else a one-hidden-layer MLP.
        label_ratio, label_seed, label_sampling (defaults 0.02, 0, `"per_video"`): the sparse-label protocol used
            in stage 2, recorded for the model card (`"pooled"` draws over all frames of the training set at once).
        freeze_feature_extractor, freeze_temporal_module (defaults False): stage-2 freezing.
        chunk_size (`int`, defaults to 256): frames per temporal chunk at inference (GRU state carried between
            chunks, so chunked = one pass).
    """

    model_type = "hfvid-contrastive-au"
    sub_configs_defaults = {"backbone_config": SubConfigSpec(config_class=ResNetConfig, optional=True)}

    backbone_config: dict | PreTrainedConfig | None = None
    backbone_init: str = "random"
    image_size: int = 128
    feature_dim: int = 512
    temporal_type: str = "gru"
    temporal_hidden_size: int = 512
    temporal_num_layers: int = 1
    pretext: str = "predictive"
    num_observed_steps: int = 5
    num_predicted_steps: int = 3
    frame_stride: int = 2
    embedding_dim: int = 128
    projection_hidden_size: int = 512
    temperature: float = 0.1
    global_negatives: bool = False
    num_aus: int = 12
    au_names: list[str] | None = None
    intensity_range: list[float] | None = None
    regressor_hidden_size: int = 0
    label_ratio: float = 0.02
    label_seed: int = 0
    label_sampling: str = "per_video"
    freeze_feature_extractor: bool = False
    freeze_temporal_module: bool = False
    chunk_size: int = 256
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.backbone_config is None:
            self.backbone_config = ResNetConfig(layer_type="basic", depths=[2, 2, 2, 2],
                                                hidden_sizes=[64, 128, 256, 512])
        if isinstance(self.backbone_config, dict) and "model_type" not in self.backbone_config:
            self.backbone_config = {"model_type": "resnet", **self.backbone_config}
        super().__post_init__(**kwargs)
        self.feature_dim = self.backbone_config.hidden_sizes[-1]
        if self.au_names is None:
            self.au_names = (list(DISFA_AU_NAMES) if self.num_aus == 12
                             else [f"AU_{k}" for k in range(self.num_aus)])
        self.au_names = list(self.au_names)
        self.intensity_range = list(self.intensity_range or [0.0, 5.0])
        for name in ("image_size", "temporal_hidden_size", "temporal_num_layers", "num_observed_steps",
                     "num_predicted_steps", "frame_stride", "embedding_dim", "projection_hidden_size", "num_aus",
                     "chunk_size"):
            check_positive(name, getattr(self, name))
        check_positive("temperature", self.temperature)
        check_backbone_init(self.backbone_init)
        check_choice("pretext", self.pretext, PRETEXTS)
        check_choice("temporal_type", self.temporal_type, TEMPORAL_TYPES)
        check_choice("label_sampling", self.label_sampling, LABEL_SAMPLINGS)
        if self.pretext == "instance" and self.num_observed_steps + self.num_predicted_steps < 2:
            raise ValueError("pretext='instance' needs clips of at least 2 frames")
        if len(self.au_names) != self.num_aus:
            raise ValueError(f"au_names has {len(self.au_names)} names, expected num_aus={self.num_aus}")
        if len(self.intensity_range) != 2 or not self.intensity_range[0] < self.intensity_range[1]:
            raise ValueError(f"intensity_range must be [low, high] with low < high, got {self.intensity_range}")
        if self.regressor_hidden_size < 0:
            raise ValueError(f"regressor_hidden_size must be >= 0, got {self.regressor_hidden_size}")
        if not 0.0 < self.label_ratio <= 1.0:
            raise ValueError(f"label_ratio must be in (0, 1], got {self.label_ratio}")

    @property
    def clip_length(self) -> int:
        """Frames of a stage-1 clip (observed + predicted)."""
        return self.num_observed_steps + self.num_predicted_steps

    # the names the shared `hfvid-au-intensity` pipeline reads (shared with Affective Processes)
    @property
    def num_outputs(self) -> int:
        return self.num_aus

    @property
    def output_names(self) -> list[str]:
        return self.au_names

    @property
    def output_range(self) -> list[float]:
        return self.intensity_range


__all__ = ["ContrastiveAUConfig"]
