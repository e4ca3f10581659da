"""Configuration of MeMSVD (long-term video memory compressed by incremental SVD)."""

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ...configuration_utils import check_choice, check_positive, hfvid_config
from ...data.formats.ava import AVA_EVAL_ACTION_IDS
MEMORY_TYPES = ("memsvd", "nonlocal", "none")
MEMORY_MODES = ("batch_window", "incremental")
FUSIONS = ("concat", "residual", "concat_raw")
PROBLEM_TYPES = ("multi_label_classification", "single_label_classification")


@hfvid_config
class MeMSVDConfig(PreTrainedConfig):
    r"""
    Configuration of [`MeMSVDModel`], [`MeMSVDForActionDetection`] and [`MeMSVDForVideoClassification`]: a
    long-term memory read-out on top of precomputed short-term actor (or clip) features (Ntinou, Sanchez,
    Tzimiropoulos, arXiv:2406.07191). The attention baseline it replaces (an LFB-style non-local feature-bank
    operator) is the same class with `memory_type="nonlocal"`, and `"none"` is the no-memory baseline.

    Values the paper text could not confirm are marked *[D]* (our defaults) or *[R]* (recollection of the paper);
    LFB's published settings are marked *[LFB]*.

    Args:
        feature_dim (`int`, *optional*, defaults to 2304): d, actor feature size (SlowFast-R50 RoI feature; 2048
            I3D, 768 MViTv2-S).
        memory_type (`str`, *optional*, defaults to `"memsvd"`): `"memsvd"`, `"nonlocal"` (attention baseline) or
            `"none"` (short-term only).
        num_components (`int`, *optional*, defaults to 16): n_c, memory basis vectors used for the read-out *[D]*.
        max_rank (`int`, *optional*, defaults to 64): k, working rank of the incremental SVD *[D]*.
        forgetting_factor (`float`, *optional*, defaults to 1.0): f in (0, 1]; 1 is exact, 0.95-0.99 for long
            streams (effective horizon 1 / (1 - f) updates) *[D]*.
        memory_mode (`str`, *optional*, defaults to `"batch_window"`): `"batch_window"` (SVD of the whole window) or
            `"incremental"` (blocks of `max_features_per_second` folded in one at a time).
        memory_window_seconds (`int`, *optional*, defaults to 60): total window around the keyframe (+-30 s) *[LFB]*.
        max_features_per_second (`int`, *optional*, defaults to 5): memory features kept per second *[LFB]*.
        center_memory (`bool`, *optional*, defaults to `False`): subtract the mean memory feature first *[D]*.
        normalize_memory (`bool`, *optional*, defaults to `False`): L2-normalise memory features first *[D]*.
        detach_basis (`bool`, *optional*, defaults to `True`): no gradient through the SVD (the bank comes from a
            frozen model; SVD gradients are unstable for repeated singular values) *[D]*.
        svd_driver (`str`, *optional*, defaults to `"gram"`): `"gram"` (eigh of the smaller Gram matrix) or `"svd"`.
        reorthonormalize_every (`int`, *optional*, defaults to 50): incremental updates between re-orthonormalisations.
        rank_tolerance (`float`, *optional*, defaults to 1e-6): singular values below this fraction of sigma_1 are
            treated as zero (padding and empty windows).
        fusion (`str`, *optional*, defaults to `"concat"`): `"concat"` (`[h, Dropout(ReLU(LN(W h_hat)))]`, LFB-style
            *[R]*), `"residual"` (`h + W h_hat`) or `"concat_raw"` (`[h, h_hat]`).
        latent_dim (`int`, *optional*, defaults to 512): d' of the memory projection and of the non-local blocks *[LFB]*.
        num_nonlocal_layers (`int`, *optional*, defaults to 2): non-local blocks of the attention baseline *[LFB]*.
        memory_dropout (`float`, *optional*, defaults to 0.2): dropout on the memory branch *[LFB]*.
        classifier_dropout (`float`, *optional*, defaults to 0.5): dropout before the classifier *[LFB]*.
        eval_label_ids (`list[int]`, *optional*): logit indices (0-based) that the benchmark scores; defaults to the
            60 AVA classes (action id - 1) when `num_labels == 80`, else all classes.
        initializer_range (`float`, *optional*, defaults to 0.02): std of the linear layers' initialisation.
        actor_encoder_config (`dict` or `PreTrainedConfig`, *optional*): the short-term model as a sub-model: an
            hfvid MViTv2 (`model_type="hfvid-mvitv2"`) whose last feature map, averaged over time, is RoIAligned per
            box ([`MeMSVDActorEncoder`]); its width must equal `feature_dim`. `None` (default): the model takes
            precomputed `actor_features` only.
        actor_roi_size (`int`, *optional*, defaults to 7): RoIAlign grid of the actor encoder (average-pooled).
        num_labels (`int`, *optional*, defaults to 80): classes (AVA 80, Charades 157); sets `id2label`.
        problem_type (`str`, *optional*, defaults to `"multi_label_classification"`): or
            `"single_label_classification"` (softmax cross-entropy on integer labels).

    Example:

    ```python
    >>> from hfvid import MeMSVDConfig, MeMSVDForActionDetection
    >>> config = MeMSVDConfig(feature_dim=32, num_components=4, max_rank=8, latent_dim=16, num_labels=5)
    >>> model = MeMSVDForActionDetection(config)
    ```
    """

    model_type = "hfvid-memsvd"
    sub_configs_defaults = {
        "actor_encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="hfvid-mvitv2", optional=True),
    }

    feature_dim: int = 2304
    memory_type: str = "memsvd"
    num_components: int = 16
    max_rank: int = 64
    forgetting_factor: float = 1.0
    memory_mode: str = "batch_window"
    memory_window_seconds: int = 60
    max_features_per_second: int = 5
    center_memory: bool = False
    normalize_memory: bool = False
    detach_basis: bool = True
    svd_driver: str = "gram"
    reorthonormalize_every: int = 50
    rank_tolerance: float = 1e-6
    fusion: str = "concat"
    latent_dim: int = 512
    num_nonlocal_layers: int = 2
    memory_dropout: float = 0.2
    classifier_dropout: float = 0.5
    eval_label_ids: list[int] | None = None
    initializer_range: float = 0.02
    actor_encoder_config: dict | PreTrainedConfig | None = None
    actor_roi_size: int = 7

    def __post_init__(self, **kwargs):
        if isinstance(self.actor_encoder_config, dict) and "model_type" not in self.actor_encoder_config:
            self.actor_encoder_config = {"model_type": "hfvid-mvitv2", **self.actor_encoder_config}
        if self.id2label is None and "num_labels" not in kwargs:
            kwargs["num_labels"] = 80
        if self.problem_type is None:
            self.problem_type = "multi_label_classification"
        super().__post_init__(**kwargs)
        check_choice("memory_type", self.memory_type, MEMORY_TYPES)
        check_choice("memory_mode", self.memory_mode, MEMORY_MODES)
        check_choice("fusion", self.fusion, FUSIONS)
        check_choice("svd_driver", self.svd_driver, ("gram", "svd"))
        check_choice("problem_type", self.problem_type, PROBLEM_TYPES)
        for name in ("feature_dim", "num_components", "max_rank", "memory_window_seconds", "max_features_per_second",
                     "latent_dim", "num_nonlocal_layers", "reorthonormalize_every", "rank_tolerance",
                     "initializer_range", "actor_roi_size"):
            check_positive(name, getattr(self, name))
        if self.actor_encoder_config is not None:
            check_choice("actor_encoder_config.model_type", self.actor_encoder_config.model_type, ("hfvid-mvitv2",))
            if self.actor_encoder_config.hidden_size != self.feature_dim:
                raise ValueError(f"actor_encoder_config: its last stage has {self.actor_encoder_config.hidden_size} "
                                 f"channels, but feature_dim is {self.feature_dim}; they must be equal")
        if self.num_components > self.max_rank:
            raise ValueError(f"num_components ({self.num_components}) must be <= max_rank ({self.max_rank})")
        if not 0.0 < self.forgetting_factor <= 1.0:
            raise ValueError(f"forgetting_factor must be in (0, 1], got {self.forgetting_factor}")
        for name in ("memory_dropout", "classifier_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.eval_label_ids is None:
            self.eval_label_ids = (
                [i - 1 for i in AVA_EVAL_ACTION_IDS] if self.num_labels == 80 else list(range(self.num_labels))
            )
        bad = [i for i in self.eval_label_ids if not 0 <= i < self.num_labels]
        if bad:
            raise ValueError(f"eval_label_ids must be logit indices in [0, num_labels={self.num_labels}), got {bad}")


__all__ = ["MeMSVDConfig"]
