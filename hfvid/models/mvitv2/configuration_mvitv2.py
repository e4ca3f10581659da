"""Configuration of the video MViTv2 backbone (Li et al., CVPR 2022), laid out like torchvision's ``MViT``."""

from transformers import PreTrainedConfig
from transformers.backbone_utils import BackboneConfigMixin

from ...configuration_utils import check_positive, hfvid_config

# torchvision `mvit_v2_s` (PySlowFast MViTv2-S 16x4, Kinetics-400): per block heads, width, q/kv pooling strides.
MVITV2_S_NUM_HEADS = [1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8]
MVITV2_S_OUTPUT_CHANNELS = [96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768]
MVITV2_S_STRIDE_Q = [[1, 1, 1], [1, 2, 2], [1, 1, 1], [1, 2, 2]] + [[1, 1, 1]] * 10 + [[1, 2, 2], [1, 1, 1]]
MVITV2_S_STRIDE_KV = [[1, 8, 8], [1, 4, 4], [1, 4, 4]] + [[1, 2, 2]] * 11 + [[1, 1, 1], [1, 1, 1]]


@hfvid_config
class MViTv2Config(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of [`MViTv2Model`], [`MViTv2Backbone`] and [`MViTv2ForVideoClassification`]: the multiscale
    video transformer with pooling attention, decomposed relative positions and residual pooling (MViTv2,
    arXiv:2112.01526). Defaults reproduce torchvision's `mvit_v2_s` (16 frames at 224x224, 34.5 M parameters), so
    its Kinetics-400 weights load through [`convert_torchvision_mvit_state_dict`].

    Block `i` maps `input_channels[i]` (= `embed_dim` for block 0, else `output_channels[i - 1]`) to
    `output_channels[i]`; a stage ends before every block whose `stride_q` pools space or time.

    Args:
        image_size (`list[int]`, *optional*, defaults to `[224, 224]`): input `(height, width)`; fixed, because the
            relative-position tables and token grid depend on it. Weights saved at another size load by
            `from_pretrained(path, image_size=..., num_frames=...)`: their position tables are interpolated.
        num_frames (`int`, *optional*, defaults to 16): input frames `T`.
        num_channels (`int`, *optional*, defaults to 3): input channels.
        embed_dim (`int`, *optional*, defaults to 96): width of the patch embedding.
        patch_kernel_size, patch_stride, patch_padding (`list[int]`, *optional*): the `(t, h, w)` Conv3d patch
            embedding, defaults `[3, 7, 7]`, `[2, 4, 4]`, `[1, 3, 3]` (16x224x224 -> 8x56x56 tokens).
        num_heads (`list[int]`, *optional*): attention heads per block (MViTv2-S).
        output_channels (`list[int]`, *optional*): output width per block (MViTv2-S).
        kernel_q, kernel_kv (`list[list[int]]`, *optional*): pooling kernels per block (default `[3, 3, 3]` each).
        stride_q, stride_kv (`list[list[int]]`, *optional*): query / key-value pooling strides per block.
        residual_pool (`bool`, *optional*, defaults to `True`): MViTv2 residual pooling connection.
        residual_with_cls_embed (`bool`, *optional*, defaults to `False`): include the CLS token in that residual.
        rel_pos_embed (`bool`, *optional*, defaults to `True`): decomposed relative positions (else absolute ones).
        proj_after_attn (`bool`, *optional*, defaults to `True`): MViTv2 channel expansion inside attention.
        stochastic_depth_prob (`float`, *optional*, defaults to 0.2): maximal drop-path rate (linear over blocks).
        attention_dropout (`float`, *optional*, defaults to 0.0): dropout after the attention projection.
        classifier_dropout (`float`, *optional*, defaults to 0.5): dropout before the classification head.
        layer_norm_eps (`float`, *optional*, defaults to 1e-6): LayerNorm epsilon.
        initializer_range (`float`, *optional*, defaults to 0.02): std of the truncated-normal initialisation.
        out_features / out_indices (`list`, *optional*): stages returned by [`MViTv2Backbone`], among
            `stage_names` = `["stem", "stage1", ...]` (default: the last stage).

    Example:

    ```python
    >>> from hfvid import MViTv2Config, MViTv2Model
    >>> config = MViTv2Config(image_size=[32, 32], num_frames=4, embed_dim=16, num_heads=[1, 2],
    ...                       output_channels=[16, 32], stride_q=[[1, 1, 1], [1, 2, 2]],
    ...                       stride_kv=[[1, 4, 4], [1, 2, 2]])
    >>> MViTv2Model(config).token_grid_size
    (2, 4, 4)
    ```
    """

    model_type = "hfvid-mvitv2"

    image_size: list[int] | None = None
    num_frames: int = 16
    num_channels: int = 3
    embed_dim: int = 96
    patch_kernel_size: list[int] | None = None
    patch_stride: list[int] | None = None
    patch_padding: list[int] | None = None
    num_heads: list[int] | None = None
    output_channels: list[int] | None = None
    kernel_q: list[list[int]] | None = None
    kernel_kv: list[list[int]] | None = None
    stride_q: list[list[int]] | None = None
    stride_kv: list[list[int]] | None = None
    residual_pool: bool = True
    residual_with_cls_embed: bool = False
    rel_pos_embed: bool = True
    proj_after_attn: bool = True
    stochastic_depth_prob: float = 0.2
    attention_dropout: float = 0.0
    classifier_dropout: float = 0.5
    layer_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    _out_features: list[str] | None = None
    _out_indices: list[int] | None = None

    def __post_init__(self, **kwargs):
        self.image_size = list(self.image_size or [224, 224])
        self.patch_kernel_size = list(self.patch_kernel_size or [3, 7, 7])
        self.patch_stride = list(self.patch_stride or [2, 4, 4])
        self.patch_padding = list(self.patch_padding or [1, 3, 3])
        self.num_heads = list(self.num_heads or MVITV2_S_NUM_HEADS)
        self.output_channels = list(self.output_channels or MVITV2_S_OUTPUT_CHANNELS)
        blocks = len(self.num_heads)
        self.kernel_q = [list(k) for k in (self.kernel_q or [[3, 3, 3]] * blocks)]
        self.kernel_kv = [list(k) for k in (self.kernel_kv or [[3, 3, 3]] * blocks)]
        self.stride_q = [list(s) for s in (self.stride_q or MVITV2_S_STRIDE_Q)]
        self.stride_kv = [list(s) for s in (self.stride_kv or MVITV2_S_STRIDE_KV)]
        self._validate()
        self.stage_names = ["stem"] + [f"stage{i}" for i in range(1, len(self.stage_ends) + 1)]
        self.set_output_features_output_indices(
            out_indices=kwargs.pop("out_indices", self._out_indices),
            out_features=kwargs.pop("out_features", self._out_features),
        )
        super().__post_init__(**kwargs)

    def _validate(self) -> None:
        if len(self.image_size) != 2:
            raise ValueError(f"image_size must be [height, width], got {self.image_size}")
        for name in ("patch_kernel_size", "patch_stride", "patch_padding"):
            if len(getattr(self, name)) != 3:
                raise ValueError(f"{name} must have 3 entries (t, h, w), got {getattr(self, name)}")
        blocks = len(self.num_heads)
        if blocks == 0:
            raise ValueError("num_heads must list at least one block")
        for name in ("output_channels", "kernel_q", "kernel_kv", "stride_q", "stride_kv"):
            value = getattr(self, name)
            if len(value) != blocks:
                raise ValueError(f"{name} has {len(value)} entries, expected one per block ({blocks}, like num_heads)")
            if name != "output_channels" and any(len(v) != 3 for v in value):
                raise ValueError(f"{name} must hold one (t, h, w) triple per block, got {value}")
        for name in ("num_frames", "num_channels", "embed_dim"):
            check_positive(name, getattr(self, name))
        for i, (heads, width) in enumerate(zip(self.num_heads, self.output_channels)):
            if heads < 1 or width < 1 or width % heads:
                raise ValueError(f"output_channels[{i}]={width} must be a positive multiple of num_heads[{i}]={heads}")
        grid = self.grid_after_patch_embed
        for i, stride in enumerate(self.stride_q):
            grid = [g // s for g, s in zip(grid, stride)]
            if min(grid) < 1:
                raise ValueError(f"stride_q pools the token grid to nothing at block {i}: image_size {self.image_size}"
                                 f" and num_frames {self.num_frames} are too small for this block setting")
        for name in ("stochastic_depth_prob", "attention_dropout", "classifier_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def input_channels(self) -> list[int]:
        """Input width of every block: `embed_dim`, then the previous block's output width."""
        return [self.embed_dim, *self.output_channels[:-1]]

    @property
    def grid_after_patch_embed(self) -> list[int]:
        """`(T', H', W')` token grid of the patch embedding (as torchvision computes it: size // stride)."""
        return [size // stride for size, stride in zip([self.num_frames, *self.image_size], self.patch_stride)]

    @property
    def stage_ends(self) -> list[int]:
        """Index of the last block of every stage (a stage ends before each block that pools the queries)."""
        ends = [i - 1 for i in range(1, len(self.num_heads)) if any(s > 1 for s in self.stride_q[i])]
        return [*ends, len(self.num_heads) - 1]

    @property
    def hidden_size(self) -> int:
        """Width of the final tokens."""
        return self.output_channels[-1]


__all__ = ["MViTv2Config"]
