"""MeMSVD: actor features + long-term feature bank -> multi-label actions, with an SVD memory instead of attention.

Inputs are short-term actor RoI features ``(K, d)`` (or one clip feature per video) and the long-term bank
``(B, N, d)`` of the samples they belong to. The actor features are either precomputed (the default) or, when
``config.actor_encoder_config`` is set, computed in the model by its short-term sub-model
([`MeMSVDActorEncoder`]: MViTv2 + RoIAlign) from ``pixel_values`` + ``boxes``, so the short-term model is saved,
loaded and trained (end to end, or frozen as in the paper's stages) with the memory and the head. The bank stays
precomputed (stage 2 of the LFB/MeMSVD recipe, a frozen short-term model over the whole video).

``memory_type`` picks the long-term operator, all sharing the classifier head so they are compared like for like:

- ``"memsvd"``: ``h_hat = U_c U_c^T h`` with ``U_c`` the top-n_c left singular vectors of the bank, then fusion;
- ``"nonlocal"``: the LFB feature-bank operator (stacked non-local blocks, queries from the actor, keys/values from
  the bank), the attention baseline MeMSVD replaces;
- ``"none"``: the short-term feature alone.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, can_return_tuple

from ..mvitv2.modeling_mvitv2 import MViTv2PreTrainedModel
from .actor_encoder_memsvd import MeMSVDActorEncoder
from .configuration_memsvd import MeMSVDConfig
from .memory_memsvd import MeMSVDMemory, MeMSVDState


@dataclass
class MeMSVDModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(K, fused_dim)`): fused short + long-term actor features.
        reconstructed (`torch.FloatTensor` of shape `(K, d)`): `h_hat`, the actor feature reconstructed in the
            memory subspace (`memory_type="memsvd"` only).
        coefficients (`torch.FloatTensor` of shape `(K, n_c)`): projection coefficients `U_c^T h` (memsvd only).
        singular_values (`torch.FloatTensor` of shape `(B, n_c)`): top singular values of each memory (memsvd only).
        memory_basis (`torch.FloatTensor` of shape `(B, d, n_c)`): `U_c`, when `output_memory_basis=True`.
        attentions (`tuple(torch.FloatTensor)`): attention weights `(K, N)` per non-local block (nonlocal only).
    """

    last_hidden_state: torch.FloatTensor | None = None
    reconstructed: torch.FloatTensor | None = None
    coefficients: torch.FloatTensor | None = None
    singular_values: torch.FloatTensor | None = None
    memory_basis: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MeMSVDOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` are given): BCE-with-logits over all classes
            (multi-label) or cross-entropy (single-label).
        logits (`torch.FloatTensor` of shape `(K, num_labels)`): per actor (or clip); sigmoid gives probabilities.
        reconstructed, coefficients, singular_values, memory_basis, attentions: as in [`MeMSVDModelOutput`].
        hidden_states (`torch.FloatTensor` of shape `(K, fused_dim)`): the fused features fed to the classifier.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    reconstructed: torch.FloatTensor | None = None
    coefficients: torch.FloatTensor | None = None
    singular_values: torch.FloatTensor | None = None
    memory_basis: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: torch.FloatTensor | None = None


class MeMSVDNonLocalBlock(nn.Module):
    """One LFB non-local block: ``s' = s + Dropout(W_o ReLU(LN(softmax(q k^T / sqrt(d')) v)))``."""

    def __init__(self, query_dim: int, memory_dim: int, latent_dim: int, dropout: float):
        super().__init__()
        self.query = nn.Linear(query_dim, latent_dim)
        self.key = nn.Linear(memory_dim, latent_dim)
        self.value = nn.Linear(memory_dim, latent_dim)
        self.norm = nn.LayerNorm(latent_dim)
        self.output = nn.Linear(latent_dim, latent_dim)
        self.dropout = nn.Dropout(dropout)
        self.scale = latent_dim**-0.5

    def forward(self, queries, residual, memory, memory_mask, batch_index):
        keys, values = self.key(memory), self.value(memory)  # (B, N, d'): the O(N d d') part LFB pays per window
        q = self.query(queries).unsqueeze(1)  # (K, 1, d')
        scores = (q @ keys[batch_index].transpose(1, 2)).squeeze(1) * self.scale  # (K, N)
        mask = memory_mask[batch_index]
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = scores.softmax(-1) * mask.any(-1, keepdim=True).to(scores.dtype)  # empty memory: no context
        context = (weights.unsqueeze(1) @ values[batch_index]).squeeze(1)
        return residual + self.dropout(self.output(F.relu(self.norm(context)))), weights


class MeMSVDPreTrainedModel(PreTrainedModel):
    config: MeMSVDConfig
    base_model_prefix = "memsvd"
    main_input_name = "actor_features"
    input_modalities = ("video",)
    # weights saved at one clip size load at another: the actor encoder's MViTv2 position tables are resized on load
    _load_pretrained_model = staticmethod(MViTv2PreTrainedModel._load_pretrained_model)

    def __init__(self, config: MeMSVDConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        # gradient checkpointing recomputes the actor encoder's MViTv2 blocks; without an encoder there is nothing
        # worth recomputing (the non-local baseline's blocks hold (K, latent_dim) activations)
        self.supports_gradient_checkpointing = config.actor_encoder_config is not None

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)


class MeMSVDModel(MeMSVDPreTrainedModel):
    """Short-term actor features + long-term memory -> fused features (no classifier)."""

    def __init__(self, config: MeMSVDConfig):
        super().__init__(config)
        d, latent = config.feature_dim, config.latent_dim
        self.memory = MeMSVDMemory(
            num_components=config.num_components,
            max_rank=config.max_rank,
            forgetting_factor=config.forgetting_factor,
            svd_driver=config.svd_driver,
            center_memory=config.center_memory,
            normalize_memory=config.normalize_memory,
            reorthonormalize_every=config.reorthonormalize_every,
            rank_tolerance=config.rank_tolerance,
        )
        if config.memory_type == "memsvd" and config.fusion == "concat":
            self.memory_projection = nn.Linear(d, latent)
            self.memory_norm = nn.LayerNorm(latent)
        elif config.memory_type == "memsvd" and config.fusion == "residual":
            self.memory_projection = nn.Linear(d, d)
        elif config.memory_type == "nonlocal":
            self.short_term_projection = nn.Linear(d, latent)
            self.nonlocal_blocks = nn.ModuleList(
                MeMSVDNonLocalBlock(d if i == 0 else latent, d, latent, config.memory_dropout)
                for i in range(config.num_nonlocal_layers)
            )
        self.memory_dropout = nn.Dropout(config.memory_dropout)
        self.actor_encoder = (None if config.actor_encoder_config is None
                              else MeMSVDActorEncoder(config.actor_encoder_config, roi_size=config.actor_roi_size))
        self.post_init()

    @property
    def fused_dim(self) -> int:
        config = self.config
        if config.memory_type == "none" or (config.memory_type == "memsvd" and config.fusion == "residual"):
            return config.feature_dim
        if config.memory_type == "memsvd" and config.fusion == "concat_raw":
            return 2 * config.feature_dim
        return config.feature_dim + config.latent_dim

    def _check_shapes(self, actor_features, memory_features, memory_mask, memory_basis, actor_batch_index) -> int:
        """Presence and shapes of the inputs (no tensor values are read: `forward` keeps no data-dependent branch).
        Returns the number of memories B (or of actors when the model reads no memory)."""
        d = self.config.feature_dim
        if actor_features is None:
            raise ValueError(
                "actor_features (K, feature_dim) are required (or pixel_values + boxes when the model has an actor "
                "encoder, config.actor_encoder_config): extract them with a short-term model, e.g. "
                "VideoBackboneActorEncoder"
            )
        if actor_features.ndim != 2 or actor_features.shape[1] != d:
            raise ValueError(f"actor_features must have shape (K, feature_dim={d}), got {tuple(actor_features.shape)}")
        if self.config.memory_type == "none":
            return actor_features.shape[0]
        if memory_features is None and memory_basis is None:
            raise ValueError(f"memory_type={self.config.memory_type!r} needs memory_features (B, N, feature_dim)"
                             + (" or memory_basis (B, d, n_c)" if self.config.memory_type == "memsvd" else ""))
        if memory_basis is not None:
            if self.config.memory_type != "memsvd":
                raise ValueError("memory_basis (a precomputed streaming state) only applies to memory_type='memsvd'")
            if memory_basis.ndim != 3 or memory_basis.shape[1] != d:
                raise ValueError(f"memory_basis must have shape (B, feature_dim={d}, n_c), "
                                 f"got {tuple(memory_basis.shape)}")
            batch = memory_basis.shape[0]
        else:
            if memory_features.ndim != 3 or memory_features.shape[2] != d:
                raise ValueError(f"memory_features must have shape (B, N, feature_dim={d}), "
                                 f"got {tuple(memory_features.shape)}")
            if memory_mask is not None and memory_mask.shape != memory_features.shape[:2]:
                raise ValueError(f"memory_mask must have shape (B, N) = {tuple(memory_features.shape[:2])}, "
                                 f"got {tuple(memory_mask.shape)}")
            batch = memory_features.shape[0]
        if actor_batch_index is None and actor_features.shape[0] != batch:
            raise ValueError(f"got {actor_features.shape[0]} actors for {batch} memories: pass actor_batch_index (K,)")
        if actor_batch_index is not None and actor_batch_index.shape != actor_features.shape[:1]:
            raise ValueError(f"actor_batch_index must have shape (K={actor_features.shape[0]},) with values in "
                             f"[0, {batch}), got shape {tuple(actor_batch_index.shape)}")
        return batch

    def validate_inputs(
        self,
        actor_features: torch.Tensor | None = None,
        memory_features: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        actor_batch_index: torch.Tensor | None = None,
        memory_basis: torch.Tensor | MeMSVDState | None = None,
    ) -> None:
        """Raise a `ValueError` naming the argument for inputs `forward` would mis-handle: wrong shapes (as `forward`
        does) and the value checks `forward` leaves out so it can be traced and compiled: NaN/inf features (in
        unmasked memory slots) and `actor_batch_index` values outside `[0, B)`. Called by the long-term pipeline
        on every keyframe; call it on hand-built batches."""
        if isinstance(memory_basis, MeMSVDState):
            memory_basis = memory_basis.U
        batch = self._check_shapes(actor_features, memory_features, memory_mask, memory_basis, actor_batch_index)
        if not torch.isfinite(actor_features).all():
            raise ValueError("actor_features contain NaN or inf values")
        if self.config.memory_type == "none":
            return
        if memory_basis is None:
            valid = memory_features if memory_mask is None else memory_features[memory_mask.bool()]
            if not torch.isfinite(valid).all():
                raise ValueError("memory_features contain NaN or inf values (in unmasked slots)")
        if actor_batch_index is not None and actor_batch_index.numel() and not (
                0 <= int(actor_batch_index.min()) <= int(actor_batch_index.max()) < batch):
            raise ValueError(f"actor_batch_index values must be in [0, {batch}), got "
                             f"[{int(actor_batch_index.min())}, {int(actor_batch_index.max())}]")

    def encode_actors(self, pixel_values, boxes, actor_features=None, actor_batch_index=None):
        """``(actor_features, actor_batch_index)`` from clips and boxes through the actor encoder."""
        if self.actor_encoder is None:
            raise ValueError("pixel_values/boxes: this model has no actor encoder (config.actor_encoder_config is "
                             "None); pass precomputed actor_features instead")
        if pixel_values is None or boxes is None or actor_features is not None:
            raise ValueError("give pixel_values (B, T, 3, H, W) and boxes (K, 5) together, and not actor_features")
        features = self.actor_encoder(pixel_values, boxes)  # checks boxes is (K, 5) before anything else
        return features, boxes[:, 0].long() if actor_batch_index is None else actor_batch_index

    def memory_basis_of(self, memory_features, memory_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(U_c, s)`` of a window in the configured `memory_mode` (incremental: one block per second)."""
        if self.config.memory_mode == "incremental":
            state = self.memory.stream(memory_features, memory_mask, block_size=self.config.max_features_per_second)
            return self.memory.basis(state)
        return self.memory.from_bank(memory_features, memory_mask)

    @can_return_tuple
    def forward(
        self,
        actor_features: torch.Tensor | None = None,
        memory_features: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        actor_batch_index: torch.Tensor | None = None,
        memory_basis: torch.Tensor | MeMSVDState | None = None,
        pixel_values: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
        output_memory_basis: bool = False,
    ) -> MeMSVDModelOutput:
        r"""
        Args:
            actor_features (`torch.FloatTensor` of shape `(K, feature_dim)`): short-term actor (or clip) features.
            memory_features (`torch.FloatTensor` of shape `(B, N, feature_dim)`): long-term bank of each sample.
            memory_mask (`torch.BoolTensor` of shape `(B, N)`, *optional*): valid memory slots (default: all).
                An all-false row gives the no-context result for its actors.
            actor_batch_index (`torch.LongTensor` of shape `(K,)`, *optional*): sample of each actor (default:
                actor i belongs to sample i, so K must equal B).
            memory_basis (`torch.FloatTensor` of shape `(B, feature_dim, n_c)` or `MeMSVDState`, *optional*): a
                precomputed basis (streaming inference); replaces `memory_features`.
            pixel_values (`torch.FloatTensor` of shape `(B, num_frames, 3, H, W)`, *optional*): clips around the
                keyframes, for a model with an actor encoder (`config.actor_encoder_config`); replaces
                `actor_features`.
            boxes (`torch.FloatTensor` of shape `(K, 5)`, *optional*): `[batch_index, x1, y1, x2, y2]` actor boxes in
                `pixel_values` pixels; `actor_batch_index` defaults to their first column.
            output_memory_basis (`bool`, *optional*): also return `U_c`.

        Only shapes are checked here; [`validate_inputs`] also checks the values (finite features, indices in
        range), so this forward has no data-dependent branch and can be exported or compiled.
        """
        if pixel_values is not None or boxes is not None:
            actor_features, actor_batch_index = self.encode_actors(pixel_values, boxes, actor_features,
                                                                   actor_batch_index)
        if isinstance(memory_basis, MeMSVDState):
            memory_basis = self.memory.basis(memory_basis)[0]
        self._check_shapes(actor_features, memory_features, memory_mask, memory_basis, actor_batch_index)
        config = self.config
        h = actor_features
        reconstructed = coefficients = singular_values = basis = attentions = None
        if config.memory_type == "none":
            fused = h
        elif config.memory_type == "nonlocal":
            if memory_mask is None:
                memory_mask = torch.ones(memory_features.shape[:2], dtype=torch.bool, device=h.device)
            if actor_batch_index is None:
                actor_batch_index = torch.arange(h.shape[0], device=h.device)
            state, queries, attentions = self.short_term_projection(h), h, []
            for block in self.nonlocal_blocks:
                state, weights = block(queries, state, memory_features, memory_mask.bool(), actor_batch_index)
                queries = state
                attentions.append(weights)
            fused, attentions = torch.cat([h, state], dim=-1), tuple(attentions)
        else:
            if memory_basis is not None:
                basis = memory_basis
            else:
                with torch.set_grad_enabled(torch.is_grad_enabled() and not config.detach_basis):
                    basis, singular_values = self.memory_basis_of(memory_features, memory_mask)
                if config.detach_basis:
                    basis, singular_values = basis.detach(), singular_values.detach()
                singular_values = singular_values.to(h.dtype)
            reconstructed, coefficients = self.memory.project(basis, h, actor_batch_index)
            if config.fusion == "concat":
                memory = self.memory_dropout(F.relu(self.memory_norm(self.memory_projection(reconstructed))))
                fused = torch.cat([h, memory], dim=-1)
            elif config.fusion == "residual":
                fused = h + self.memory_dropout(self.memory_projection(reconstructed))
            else:
                fused = torch.cat([h, reconstructed], dim=-1)
        return MeMSVDModelOutput(
            last_hidden_state=fused,
            reconstructed=reconstructed,
            coefficients=coefficients,
            singular_values=singular_values,
            memory_basis=basis.to(h.dtype) if output_memory_basis and basis is not None else None,
            attentions=attentions,
        )


class MeMSVDForActionDetection(MeMSVDPreTrainedModel):
    """MeMSVD with the LFB classifier head: one multi-label prediction per actor box (AVA)."""

    def __init__(self, config: MeMSVDConfig):
        super().__init__(config)
        self.memsvd = MeMSVDModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(self.memsvd.fused_dim, config.num_labels)
        self.post_init()

    def loss_function(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.config.problem_type == "single_label_classification":
            if labels.shape != logits.shape[:1]:
                raise ValueError(f"single-label labels must have shape (K={logits.shape[0]},), got {tuple(labels.shape)}")
            return F.cross_entropy(logits, labels.long())
        if labels.shape != logits.shape:
            raise ValueError(f"labels must have shape (K, num_labels) = {tuple(logits.shape)} (multi-hot), "
                             f"got {tuple(labels.shape)}")
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))

    def validate_inputs(self, **inputs) -> None:
        """[`MeMSVDModel.validate_inputs`] (`labels` and `output_memory_basis` are not checked there)."""
        inputs.pop("labels", None)
        inputs.pop("output_memory_basis", None)
        self.memsvd.validate_inputs(**inputs)

    @can_return_tuple
    def forward(
        self,
        actor_features: torch.Tensor | None = None,
        memory_features: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        actor_batch_index: torch.Tensor | None = None,
        memory_basis: torch.Tensor | MeMSVDState | None = None,
        labels: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
        output_memory_basis: bool = False,
    ) -> MeMSVDOutput:
        r"""
        Args:
            actor_features, memory_features, memory_mask, actor_batch_index, memory_basis, output_memory_basis:
                see [`MeMSVDModel.forward`].
            labels (`torch.FloatTensor` of shape `(K, num_labels)`, *optional*): multi-hot targets (all 80 AVA
                classes; the 60-class protocol applies only at evaluation). Integer `(K,)` for single-label.

        Example:

        ```python
        >>> import torch, hfvid
        >>> from hfvid import MeMSVDConfig, MeMSVDForActionDetection
        >>> config = MeMSVDConfig(feature_dim=32, num_components=4, max_rank=8, latent_dim=16, num_labels=5)
        >>> model = MeMSVDForActionDetection(config).eval()
        >>> out = model(actor_features=torch.randn(3, 32), memory_features=torch.randn(2, 40, 32),
        ...             actor_batch_index=torch.tensor([0, 0, 1]), labels=torch.zeros(3, 5))
        >>> out.logits.shape, out.loss.ndim
        (torch.Size([3, 5]), 0)
        ```
        """
        outputs = self.memsvd(
            actor_features=actor_features, memory_features=memory_features, memory_mask=memory_mask,
            actor_batch_index=actor_batch_index, memory_basis=memory_basis, pixel_values=pixel_values, boxes=boxes,
            output_memory_basis=output_memory_basis, return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = self.loss_function(logits, labels) if labels is not None else None
        return MeMSVDOutput(
            loss=loss, logits=logits, reconstructed=outputs.reconstructed, coefficients=outputs.coefficients,
            singular_values=outputs.singular_values, memory_basis=outputs.memory_basis,
            attentions=outputs.attentions, hidden_states=outputs.last_hidden_state,
        )


class MeMSVDForVideoClassification(MeMSVDForActionDetection):
    """The Charades variant: one clip feature per video and its video-wide memory -> multi-label logits.

    Same weights as [`MeMSVDForActionDetection`] (one "actor" per clip, `actor_batch_index = arange(B)`), so a
    checkpoint of either class loads into the other.
    """

    def validate_inputs(self, clip_features=None, actor_features=None, **inputs) -> None:
        """[`MeMSVDModel.validate_inputs`] with the clip features as the actors."""
        super().validate_inputs(actor_features=clip_features if clip_features is not None else actor_features,
                                **inputs)

    @can_return_tuple
    def forward(
        self,
        clip_features: torch.Tensor | None = None,
        memory_features: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        memory_basis: torch.Tensor | MeMSVDState | None = None,
        output_memory_basis: bool = False,
        actor_features: torch.Tensor | None = None,
    ) -> MeMSVDOutput:
        r"""
        Args:
            clip_features (`torch.FloatTensor` of shape `(B, feature_dim)`): pooled feature of each video's clip.
            memory_features (`torch.FloatTensor` of shape `(B, N, feature_dim)`): clip features spread over the video.
            memory_mask, memory_basis, output_memory_basis: see [`MeMSVDModel.forward`].
            labels (`torch.FloatTensor` of shape `(B, num_labels)`, *optional*): multi-hot video labels.
            actor_features: the name [`MeMSVDForActionDetection`] (and `main_input_name`) gives `clip_features`.
        """
        features = clip_features if clip_features is not None else actor_features
        return super().forward(
            actor_features=features, memory_features=memory_features, memory_mask=memory_mask, labels=labels,
            memory_basis=memory_basis, output_memory_basis=output_memory_basis, return_dict=True,
        )


def readout_macs(memory_type: str, feature_dim: int, memory_size: int, num_components: int = 16,
                 latent_dim: int = 512, num_layers: int = 2) -> int:
    """Multiply-adds of the long-term read-out for ONE actor once the memory is prepared (analytic).

    memsvd: ``c = U_c^T h`` and ``U_c c`` (2 d n_c). nonlocal, per block: query projection (d_in d'), scores and
    weighted sum over the N slots (2 N d'), output projection (d'^2); plus the short-term projection (d d').
    """
    if memory_type == "memsvd":
        return 2 * feature_dim * num_components
    if memory_type == "nonlocal":
        total = feature_dim * latent_dim
        for layer in range(num_layers):
            query_dim = feature_dim if layer == 0 else latent_dim
            total += query_dim * latent_dim + 2 * memory_size * latent_dim + latent_dim * latent_dim
        return total
    return 0


def memory_preparation_macs(kind: str, feature_dim: int, memory_size: int, max_rank: int = 64,
                            block_size: int = 5, latent_dim: int = 512, num_layers: int = 2) -> int:
    """Multiply-adds to get the memory ready for one keyframe (analytic).

    - ``"nonlocal"``: key and value projections of the whole window in every block, ``2 L N d d'`` (LFB recomputes
      them per keyframe, since each keyframe has its own window);
    - ``"memsvd_batch"``: Gram matrix + eigendecomposition of the window, ``d N min(d, N) + min(d, N)^3``;
    - ``"memsvd_incremental"``: one streaming update with ``m = block_size`` new features,
      ``d k m`` (U^T B, twice) ``+ d m^2`` (QR) ``+ (k+m)^3`` (small SVD) ``+ d (k+m) k`` (rotation).
    """
    d, n, k, m = feature_dim, memory_size, max_rank, block_size
    if kind == "nonlocal":
        return 2 * num_layers * n * d * latent_dim
    if kind == "memsvd_batch":
        r = min(d, n)
        return d * n * r + r**3
    if kind == "memsvd_incremental":
        return 4 * d * k * m + d * m * m + (k + m) ** 3 + d * (k + m) * k
    raise ValueError(f"kind must be 'nonlocal', 'memsvd_batch' or 'memsvd_incremental', got {kind!r}")


__all__ = [
    "MeMSVDForActionDetection",
    "MeMSVDForVideoClassification",
    "MeMSVDModel",
    "MeMSVDModelOutput",
    "MeMSVDNonLocalBlock",
    "MeMSVDOutput",
    "MeMSVDPreTrainedModel",
    "memory_preparation_macs",
    "readout_macs",
]
