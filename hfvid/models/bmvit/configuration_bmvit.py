"""Configuration of BMViT: bipartite matching on the output tokens of a video transformer (Ntinou et al., CVPR 2024)."""

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ...configuration_utils import check_choice, check_positive, hfvid_config
from ...data.formats.ava import AVA_EVAL_ACTION_IDS

TOKEN_POOLINGS = ("temporal_mean", "keyframe", "temporal_max", "none")
LOCALIZATIONS = ("single_stage", "two_stage")
BOX_REFERENCES = (None, "grid")


@hfvid_config
class BMViTConfig(PreTrainedConfig):
    r"""
    Configuration of [`BMViTForActionLocalization`]: a video backbone whose output tokens are pooled into N
    prediction slots, each decoded by light MLP heads into a person box, a person/no-object score and multi-label
    action scores, trained with DETR's Hungarian matching. No decoder, no learnable queries, no person detector.

    Values marked *[D]* are engineering defaults (the paper's text was not available); *[R]* recollections.

    Args:
        localization (`str`, *optional*, defaults to `"single_stage"`): `"single_stage"` is BMViT (boxes from the
            tokens, matching loss); `"two_stage"` is the baseline the paper compares against, with the same backbone:
            the last-stage features averaged over time, RoIAlign on *given* person boxes (a detector's or the
            ground truth's), max-pooled, LayerNorm + a linear multi-label action classifier (sigmoid, BCE on the
            given boxes' actions; no matching, no box regression), as PySlowFast's AVA heads.
        roi_output_size (`int`, *optional*, defaults to 7): RoIAlign grid of the two-stage head (PySlowFast: 7).
        backbone_config (`dict` or `PreTrainedConfig`, *optional*): the video backbone, by default an hfvid
            MViTv2-S (`model_type="hfvid-mvitv2"`, torchvision `mvit_v2_s` layout). Any model whose output has a
            `last_hidden_state` token sequence works when the token grid is known: hfvid MViTv2 (returns it) and
            transformers `videomae` (tubelet grid, no CLS) are supported.
        token_pooling (`str`, *optional*, defaults to `"temporal_mean"`): how the `(T', H', W')` tokens become
            prediction slots: `"temporal_mean"` / `"temporal_max"` / `"keyframe"` (N = H'W') or `"none"`
            (N = T'H'W') *[D]*.
        keyframe_index (`int`, *optional*): temporal token of the keyframe for `"keyframe"` pooling
            (default `T' // 2`).
        box_reference (`str`, *optional*): `"grid"` predicts each box centre as an offset (in logit space) from its
            token's cell centre; `None` (default) predicts it directly *[D, not in the paper]*.
        head_hidden_size (`int`, *optional*): width of the box MLP (default: the backbone width).
        num_action_labels (`int`, *optional*, defaults to 80): action classes (AVA: 80, multi-label).
        id2label (`dict[int, str]`, *optional*): action name of every column (column `c` is action id `c + 1`).
        eval_label_ids (`list[int]`, *optional*): action ids scored at evaluation (default: the 60 AVA ids when
            `num_action_labels == 80`, else all).
        class_cost, bbox_cost, giou_cost, action_cost (`float`, *optional*, defaults to 1, 5, 2, 0): matching costs
            (DETR's) *[D]*.
        ce_loss_coefficient, bbox_loss_coefficient, giou_loss_coefficient, action_loss_coefficient (`float`,
            *optional*, defaults to 1, 5, 2, 1): loss weights *[D]*.
        eos_coefficient (`float`, *optional*, defaults to 0.1): weight of the no-object class in the actor loss.
        use_focal_actor_loss (`bool`, *optional*, defaults to `False`): sigmoid focal loss on the person logit
            instead of the weighted cross-entropy *[D]*.
        focal_alpha (`float`, *optional*, defaults to 0.25), focal_gamma (`float`, *optional*, defaults to 2.0).
        auxiliary_loss (`bool`, *optional*, defaults to `False`): also apply the heads (and the matched loss) to the
            outputs of the `num_auxiliary_layers` backbone blocks before the last *[D]*; those blocks must share
            the final token grid and width.
        num_auxiliary_layers (`int`, *optional*, defaults to 1).
        person_threshold (`float`, *optional*, defaults to 0.5), top_k_eval (`int`, *optional*, defaults to 25):
            post-processing defaults *[D]*.
        initializer_range (`float`, *optional*, defaults to 0.02): std of the heads' initialisation.

    Example:

    ```python
    >>> from hfvid import BMViTConfig
    >>> config = BMViTConfig(num_action_labels=4, backbone_config={"model_type": "hfvid-mvitv2",
    ...     "image_size": [32, 32], "num_frames": 4, "embed_dim": 16, "num_heads": [1, 2],
    ...     "output_channels": [16, 32], "stride_q": [[1, 1, 1], [1, 2, 2]], "stride_kv": [[1, 4, 4], [1, 2, 2]]})
    >>> config.hidden_size, config.num_frames, config.image_size
    (32, 4, [32, 32])
    ```
    """

    model_type = "hfvid-bmvit"
    sub_configs_defaults = {
        "backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="hfvid-mvitv2"),
    }

    backbone_config: dict | PreTrainedConfig | None = None
    localization: str = "single_stage"
    roi_output_size: int = 7
    token_pooling: str = "temporal_mean"
    keyframe_index: int | None = None
    box_reference: str | None = None
    head_hidden_size: int | None = None
    num_action_labels: int = 80
    eval_label_ids: list[int] | None = None
    class_cost: float = 1.0
    bbox_cost: float = 5.0
    giou_cost: float = 2.0
    action_cost: float = 0.0
    ce_loss_coefficient: float = 1.0
    bbox_loss_coefficient: float = 5.0
    giou_loss_coefficient: float = 2.0
    action_loss_coefficient: float = 1.0
    eos_coefficient: float = 0.1
    use_focal_actor_loss: bool = False
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    auxiliary_loss: bool = False
    num_auxiliary_layers: int = 1
    person_threshold: float = 0.5
    top_k_eval: int = 25
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if isinstance(self.backbone_config, dict) and "model_type" not in self.backbone_config:
            self.backbone_config = {"model_type": "hfvid-mvitv2", **self.backbone_config}
        super().__post_init__(**kwargs)
        check_choice("localization", self.localization, LOCALIZATIONS)
        check_positive("roi_output_size", self.roi_output_size)
        if self.localization == "two_stage" and self.auxiliary_loss:
            raise ValueError("auxiliary_loss=True applies to the single-stage heads only, got localization='two_stage'")
        check_choice("token_pooling", self.token_pooling, TOKEN_POOLINGS)
        check_choice("box_reference", self.box_reference, BOX_REFERENCES)
        check_choice("backbone_config.model_type", self.backbone_config.model_type, ("hfvid-mvitv2", "videomae"))
        check_positive("num_action_labels", self.num_action_labels)
        check_positive("top_k_eval", self.top_k_eval)
        check_positive("num_auxiliary_layers", self.num_auxiliary_layers)
        if self.head_hidden_size is not None:
            check_positive("head_hidden_size", self.head_hidden_size)
        for name in ("class_cost", "bbox_cost", "giou_cost", "action_cost", "ce_loss_coefficient",
                     "bbox_loss_coefficient", "giou_loss_coefficient", "action_loss_coefficient", "focal_gamma"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("eos_coefficient", "person_threshold", "focal_alpha"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        temporal_tokens = self.token_grid[0]
        if self.keyframe_index is not None and not 0 <= self.keyframe_index < temporal_tokens:
            raise ValueError(f"keyframe_index must be in [0, {temporal_tokens}) (temporal tokens), "
                             f"got {self.keyframe_index}")
        if self.eval_label_ids is None:
            self.eval_label_ids = (list(AVA_EVAL_ACTION_IDS) if self.num_action_labels == 80
                                   else list(range(1, self.num_action_labels + 1)))
        if self.id2label is None or len(self.id2label) != self.num_action_labels:
            self.id2label = {i: f"action_{i + 1}" for i in range(self.num_action_labels)}  # column c = action id c+1
        self.label2id = {name: int(i) for i, name in self.id2label.items()}
        if any(not 1 <= i <= self.num_action_labels for i in self.eval_label_ids):
            raise ValueError(f"eval_label_ids must be action ids in 1..{self.num_action_labels}, "
                             f"got {self.eval_label_ids}")

    @property
    def num_frames(self) -> int:
        return self.backbone_config.num_frames

    @property
    def image_size(self) -> list[int]:
        size = self.backbone_config.image_size
        return list(size) if isinstance(size, (list, tuple)) else [size, size]

    @property
    def hidden_size(self) -> int:
        return self.backbone_config.hidden_size

    @property
    def token_grid(self) -> tuple[int, int, int]:
        """`(T', H', W')` of the backbone's final tokens."""
        backbone = self.backbone_config
        if backbone.model_type == "videomae":
            height, width = self.image_size
            return (backbone.num_frames // backbone.tubelet_size, height // backbone.patch_size,
                    width // backbone.patch_size)
        grid = backbone.grid_after_patch_embed
        for stride in backbone.stride_q:
            grid = [g // s for g, s in zip(grid, stride)]
        return tuple(grid)

    @property
    def num_predictions(self) -> int:
        """N, the number of prediction slots (set by the token grid, not by a `num_queries`; single stage)."""
        t, h, w = self.token_grid
        return t * h * w if self.token_pooling == "none" else h * w


__all__ = ["BMViTConfig", "LOCALIZATIONS", "TOKEN_POOLINGS"]
