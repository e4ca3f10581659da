"""Configuration of Affective Processes (AP, Sanchez, Tellamekala, Valstar, Tzimiropoulos, CVPR 2021)."""

from transformers import PreTrainedConfig, ResNetConfig
from transformers.configuration_utils import SubConfigSpec

from ...configuration_utils import check_choice, check_positive, hfvid_config
from ...modules.backbone_init import check_backbone_init

TEMPORAL_MODELS = ("none", "gru", "transformer", "np", "ap")
CONTEXT_SELECTIONS = ("random", "uniform", "confidence", "diversity")
POSTERIOR_LABEL_SOURCES = ("ground_truth", "pseudo")
VA_NAMES = ["valence", "arousal"]
DISFA_AU_NAMES = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26"]


@hfvid_config
class AffectiveProcessConfig(PreTrainedConfig):
    r"""
    Configuration of [`AffectiveProcessModel`] and [`AffectiveProcessForAffectEstimation`]: a per-frame backbone
    giving features `x_t` and task predictions `y^_t`, a Neural-Process context encoder over `(x_c, y^_c)` pairs
    of a context set, one global Gaussian latent `z` per window, and a per-frame Gaussian decoder `p(y_t | x_t, z)`
    (arXiv:2103.13372). The paper body could not be read; everything but the structure is *[unverified]* and ours.

    Args:
        use_backbone (`bool`, *optional*, defaults to `True`): build the per-frame CNN (`pixel_values` input);
            `False` makes a features-only model (`features` + `pseudo_labels` input, e.g. cached features).
        backbone_config (`ResNetConfig` or `dict`, *optional*): the CNN; default ResNet-50 (bottleneck,
            `[3, 4, 6, 3]`) *[recollection]*.
        backbone_init (`str`, *optional*, defaults to `"random"`): where the backbone's weights start when the model
            is built from this config: `"random"`, `"torchvision:resnet50"` (torchvision's ImageNet weights; or
            `"torchvision:<state-dict file>"`), or a Hub id / folder of a transformers ResNet checkpoint (e.g.
            `microsoft/resnet-50`) or of an hfvid face pre-training model. The source must match `backbone_config`
            (a clear error names the difference). `from_pretrained` ignores it (the checkpoint's weights win); it is
            kept in the saved config as the run's provenance. See `hfvid.modules.backbone_init`.
        feature_dim (`int`, *optional*, defaults to 2048): D; must equal the backbone's last hidden size.
        num_outputs (`int`, *optional*, defaults to 2): K (2 valence/arousal, 12 DISFA AUs, 5 FERA2015 AUs).
        output_names (`list[str]`, *optional*): K names (default valence/arousal, or DISFA AU names for K=12).
        output_range (`list[float]`, *optional*, defaults to `[-1.0, 1.0]`): predictions are clamped to it by the
            processor (never inside the loss); AU: `[0.0, 5.0]`.
        image_size (`int`, *optional*, defaults to 224): face-crop side fed to the backbone.
        feature_proj_dim, label_embed_dim (`int`, *optional*, defaults to 512, 64): projections of `x` and `y` in
            the context encoder (the projection of `x` is shared with the decoder input).
        encoder_hidden_sizes (`list[int]`, *optional*, defaults to `[512, 256]`): context encoder MLP; its last
            size is the representation `r` dimension.
        latent_hidden_size, latent_dim, min_latent_std (defaults 256, 128, 0.1): latent encoder,
            `sigma_z = min_latent_std + (1 - min_latent_std) sigmoid(raw)`.
        decoder_hidden_sizes (`list[int]`, *optional*, defaults to `[512, 256]`), min_output_std (0.01): decoder
            MLP and `sigma_y = min_output_std + softplus(raw)`.
        use_pseudo_labels (`bool`, defaults to `True`): `False` = "NP on features" ablation.
        detach_pseudo_labels (`bool`, defaults to `True`): stop gradients through `y^` in the context.
        posterior_label_source (`str`, defaults to `"ground_truth"`): labels of `q(z | T)`; `"pseudo"` uses `y^`.
        context_selection (`str`, defaults to `"uniform"`): inference context rule: `random`, `uniform`,
            `confidence` (lowest predictive std after a uniform pass) or `diversity` (farthest-point sampling).
        context_min, context_max (defaults 4, 64): training context size range (`n_c ~ U{min..max}`).
        num_context_eval (`int`, defaults to 32): inference context size.
        diversity_normalize (`bool`, defaults to `True`): L2-normalise features before farthest-point sampling.
        window_size, window_stride (defaults 128, 64): training windows and overlapping inference windows.
        num_latent_samples_eval (`int`, defaults to 0): 0 decodes with `z = mu_z`; S > 0 reports the S-sample
            mixture mean and std.
        nll_weight, kl_weight, ccc_loss_weight, backbone_loss_weight (defaults 1, 1, 0, 0): loss weights.
        use_time_encoding (`bool`, defaults to `False`): sinusoidal window position (ablation only).
        temporal_model (`str`, defaults to `"ap"`): `ap`, `np`, or the baselines `none` (frame-wise), `gru`,
            `transformer` (feature-level temporal models on the same backbone).
        temporal_hidden_size, temporal_num_layers (defaults 256, 1): size of the GRU/transformer baselines.
    """

    model_type = "hfvid-affective-process"
    sub_configs_defaults = {"backbone_config": SubConfigSpec(config_class=ResNetConfig, optional=True)}

    use_backbone: bool = True
    backbone_config: dict | PreTrainedConfig | None = None
    backbone_init: str = "random"
    feature_dim: int = 2048
    num_outputs: int = 2
    output_names: list[str] | None = None
    output_range: list[float] | None = None
    image_size: int = 224
    feature_proj_dim: int = 512
    label_embed_dim: int = 64
    encoder_hidden_sizes: list[int] | None = None
    latent_hidden_size: int = 256
    latent_dim: int = 128
    min_latent_std: float = 0.1
    decoder_hidden_sizes: list[int] | None = None
    min_output_std: float = 0.01
    use_pseudo_labels: bool = True
    detach_pseudo_labels: bool = True
    posterior_label_source: str = "ground_truth"
    context_selection: str = "uniform"
    context_min: int = 4
    context_max: int = 64
    num_context_eval: int = 32
    diversity_normalize: bool = True
    window_size: int = 128
    window_stride: int = 64
    num_latent_samples_eval: int = 0
    nll_weight: float = 1.0
    kl_weight: float = 1.0
    ccc_loss_weight: float = 0.0
    backbone_loss_weight: float = 0.0
    use_time_encoding: bool = False
    temporal_model: str = "ap"
    temporal_hidden_size: int = 256
    temporal_num_layers: int = 1
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.use_backbone and self.backbone_config is None:
            self.backbone_config = ResNetConfig()  # ResNet-50 layout
        if not self.use_backbone:
            self.backbone_config = None
        if isinstance(self.backbone_config, dict) and "model_type" not in self.backbone_config:
            self.backbone_config = {"model_type": "resnet", **self.backbone_config}
        super().__post_init__(**kwargs)
        if self.backbone_config is not None:
            self.feature_dim = self.backbone_config.hidden_sizes[-1]
        if self.output_names is None:
            self.output_names = (list(VA_NAMES) if self.num_outputs == 2 else list(DISFA_AU_NAMES)
                                 if self.num_outputs == 12 else [f"output_{k}" for k in range(self.num_outputs)])
        if self.output_range is None:
            self.output_range = [-1.0, 1.0]
        self.encoder_hidden_sizes = list(self.encoder_hidden_sizes or [512, 256])
        self.decoder_hidden_sizes = list(self.decoder_hidden_sizes or [512, 256])
        for name in ("feature_dim", "num_outputs", "image_size", "feature_proj_dim", "label_embed_dim",
                     "latent_hidden_size", "latent_dim", "context_min", "context_max", "num_context_eval",
                     "window_size", "window_stride", "temporal_hidden_size", "temporal_num_layers"):
            check_positive(name, getattr(self, name))
        for name in ("encoder_hidden_sizes", "decoder_hidden_sizes"):
            if not getattr(self, name) or min(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a non-empty list of positive sizes, got {getattr(self, name)}")
        check_backbone_init(self.backbone_init)
        check_choice("temporal_model", self.temporal_model, TEMPORAL_MODELS)
        check_choice("context_selection", self.context_selection, CONTEXT_SELECTIONS)
        check_choice("posterior_label_source", self.posterior_label_source, POSTERIOR_LABEL_SOURCES)
        if len(self.output_names) != self.num_outputs:
            raise ValueError(f"output_names has {len(self.output_names)} names, expected num_outputs="
                             f"{self.num_outputs}")
        if len(self.output_range) != 2 or not self.output_range[0] < self.output_range[1]:
            raise ValueError(f"output_range must be [low, high] with low < high, got {self.output_range}")
        if self.context_min > self.context_max:
            raise ValueError(f"context_min ({self.context_min}) must be <= context_max ({self.context_max})")
        if self.window_stride > self.window_size:
            raise ValueError(f"window_stride ({self.window_stride}) must be <= window_size ({self.window_size})")
        if not 0.0 < self.min_latent_std < 1.0:
            raise ValueError(f"min_latent_std must be in (0, 1), got {self.min_latent_std}")
        check_positive("min_output_std", self.min_output_std)
        if self.num_latent_samples_eval < 0:
            raise ValueError(f"num_latent_samples_eval must be >= 0, got {self.num_latent_samples_eval}")
        for name in ("nll_weight", "kl_weight", "ccc_loss_weight", "backbone_loss_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def uses_latent(self) -> bool:
        """True for the Neural-Process variants (`ap`, `np`), which have a global latent."""
        return self.temporal_model in ("ap", "np")


__all__ = ["AffectiveProcessConfig"]
