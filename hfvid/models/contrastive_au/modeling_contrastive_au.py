"""Contrastive AU: contrastive spatio-temporal pre-training, then AU intensity from a few random labelled frames.

A per-frame CNN ``f`` (`transformers.ResNetModel`, shared :class:`~hfvid.modules.temporal.FrameEncoder`) gives
``v_t``; a causal temporal module ``g`` (GRU, shared :class:`~hfvid.modules.temporal.TemporalModule`) gives ``c_t``.

* Stage 1, :class:`ContrastiveAUForPreTraining`, on unlabelled clips of ``O + P`` frames. ``"predictive"`` pretext
  (CPC / DPC style, *[unverified]* reading of the paper): the state ``c_O`` after the observed frames predicts, per
  future step j, an embedding ``phi_j(c_O)`` that must match ``psi(v_{O+j})`` against every other (clip, step) of the
  batch (InfoNCE, M = B * P candidates; the other steps of the *same* clip are the negatives that force the features
  to encode facial motion rather than identity). ``"instance"`` pretext (clip level): the two halves of a clip are
  positives, other clips negatives (M = B).
* Stage 2, :class:`ContrastiveAUForAUIntensity`: a per-frame regressor on ``c_t``; the loss is the mean squared
  error over the *labelled* frames only, so back-propagation through time is driven by those sparse outputs alone.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput, can_return_tuple

from ...modules.temporal import FrameEncoder, TemporalModule, init_gru_weights, label_validity, masked_mse
from .configuration_contrastive_au import ContrastiveAUConfig


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


def info_nce(predicted: torch.Tensor, targets: torch.Tensor, temperature: float, positive_offset: int = 0):
    """InfoNCE: row i of ``predicted (m, E)`` must pick row ``positive_offset + i`` of ``targets (M, E)``, M >= m.

    ``logits = predicted @ targets.T / temperature``; loss = mean cross-entropy (``log M`` when every similarity is
    equal). The usual case is ``M = m``, offset 0 (the diagonal is the class); with global negatives ``targets`` is
    the gathered global batch and the offset is ``rank * m``. Returns ``(loss, logits (m, M), top-1 accuracy)``.
    """
    if predicted.ndim != 2 or targets.ndim != 2 or predicted.shape[1] != targets.shape[1]:
        raise ValueError(f"predicted and targets must be (m, E) and (M, E), got {tuple(predicted.shape)} and "
                         f"{tuple(targets.shape)}")
    if not 0 <= positive_offset <= targets.shape[0] - predicted.shape[0]:
        raise ValueError(f"positive_offset must be in [0, M - m] = [0, {targets.shape[0] - predicted.shape[0]}], "
                         f"got {positive_offset}")
    logits = predicted @ targets.T / temperature
    classes = torch.arange(logits.shape[0], device=logits.device) + positive_offset
    loss = F.cross_entropy(logits, classes)
    accuracy = (logits.argmax(-1) == classes).to(logits.dtype).mean()
    return loss, logits, accuracy


def gather_global_targets(targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``targets (m, E)`` -> ``(targets of every rank concatenated (W*m, E), positive offset rank*m)``.

    Uses the differentiable ``torch.distributed.nn.functional.all_gather``: its backward sums, over ranks, the
    gradients every rank's loss sends to this rank's targets. Every rank must hold the same ``m`` (drop the last
    incomplete batch). Without an initialised process group of size > 1 the input is returned as is (offset 0).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return targets, 0
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(targets), dim=0), dist.get_rank() * targets.shape[0]


# ---------------------------------------------------------------------------------------------- outputs
@dataclass
class ContrastiveAUModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`(B, T, H)`): temporal states `c_t` (zero at invalid frames).
        frame_features (`(B, T, D)`): per-frame features `v_t`.
        final_state (`(L, B, H)`): GRU state after the last valid frame (pass it back as `hidden_state` to stream).
    """

    last_hidden_state: torch.FloatTensor | None = None
    frame_features: torch.FloatTensor | None = None
    final_state: torch.FloatTensor | None = None


@dataclass
class ContrastiveAUPreTrainingOutput(ModelOutput):
    """
    Args:
        loss (`()`): InfoNCE. logits (`(M, M)`): similarities / temperature (diagonal = positives); with
            `global_negatives` under multi-process training `(M, world_size * M)`, positives at column
            `rank * M + i`.
        accuracy (`()`): top-1 accuracy of picking the positive (chance 1 / number of columns).
        predicted_embeddings, target_embeddings (`(B, P, E)`, L2-normalised): `P` = predicted steps (1 for the
            `instance` pretext).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    accuracy: torch.FloatTensor | None = None
    predicted_embeddings: torch.FloatTensor | None = None
    target_embeddings: torch.FloatTensor | None = None


@dataclass
class ContrastiveAUIntensityOutput(ModelOutput):
    """
    Args:
        loss (`()`, with labels): MSE over the labelled frames only (0 when a batch has none).
        intensities (`(B, T, K)`): per-frame AU intensities (unclamped; clamp to `intensity_range` at inference).
        last_hidden_state (`(B, T, H)`), final_state (`(L, B, H)`): as in [`ContrastiveAUModel`].
    """

    loss: torch.FloatTensor | None = None
    intensities: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    final_state: torch.FloatTensor | None = None


# ---------------------------------------------------------------------------------------------- models
class ContrastiveAUPreTrainedModel(PreTrainedModel):
    config: ContrastiveAUConfig
    base_model_prefix = "contrastive_au"
    main_input_name = "pixel_values"
    input_modalities = ("video",)

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        init_gru_weights(module, self.config.initializer_range)


class ContrastiveAUModel(ContrastiveAUPreTrainedModel):
    """Feature extractor ``f`` (per-frame ResNet) + temporal module ``g`` (causal GRU by default)."""

    def __init__(self, config: ContrastiveAUConfig):
        super().__init__(config)
        self.frame_encoder = FrameEncoder(config.backbone_config)
        self.temporal = TemporalModule(config.temporal_type, config.feature_dim, config.temporal_hidden_size,
                                       config.temporal_num_layers)
        self.post_init()
        self.frame_encoder.load_backbone_init(config.backbone_init)  # after post_init, which would re-initialise

    @property
    def hidden_size(self) -> int:
        return self.temporal.output_size

    def encode_frames(self, pixel_values, frame_mask=None):
        """``(B, T, 3, H, W)`` -> ``(features (B, T, D), None, frame_mask, None)`` (the pipeline's encoder hook)."""
        shape = FrameEncoder.check_pixel_values(pixel_values)
        if frame_mask is not None and tuple(frame_mask.shape) != shape:
            raise ValueError(f"frame_mask must have shape {shape} (batch, frames), got {tuple(frame_mask.shape)}")
        features, _ = self.frame_encoder(pixel_values, None if frame_mask is None else frame_mask.bool())
        return features, None, frame_mask, None

    @can_return_tuple
    def forward(self, pixel_values=None, frame_mask=None, hidden_state=None):
        r"""
        Args:
            pixel_values (`(B, T, 3, H, W)`): normalised face crops.
            frame_mask (`(B, T)` bool, *optional*): False for padding / no-face frames (state kept, output 0).
            hidden_state (`(L, B, H)`, *optional*): GRU state of the previous chunk (streaming).
        """
        if pixel_values is None:
            raise ValueError("pixel_values (batch, frames, 3, height, width) is required")
        features, _, frame_mask, _ = self.encode_frames(pixel_values, frame_mask)
        hidden, state = self.temporal(features, None if frame_mask is None else frame_mask.bool(), hidden_state)
        return ContrastiveAUModelOutput(last_hidden_state=hidden, frame_features=features, final_state=state)


class ContrastiveAUForPreTraining(ContrastiveAUPreTrainedModel):
    """Stage 1: contrastive pre-training of ``f`` and ``g`` on unlabelled clips (see the module doc).

    Example:

    ```python
    >>> import torch, hfvid
    >>> from hfvid import ContrastiveAUConfig, ContrastiveAUForPreTraining
    >>> config = ContrastiveAUConfig(image_size=32, temporal_hidden_size=16, embedding_dim=8,
    ...     projection_hidden_size=16, num_aus=3,
    ...     backbone_config={"embedding_size": 8, "hidden_sizes": [16], "depths": [1], "layer_type": "basic"})
    >>> out = ContrastiveAUForPreTraining(config)(torch.randn(2, config.clip_length, 3, 32, 32))
    >>> out.logits.shape  # M = batch * predicted steps
    torch.Size([6, 6])
    ```
    """

    def __init__(self, config: ContrastiveAUConfig):
        super().__init__(config)
        self.contrastive_au = ContrastiveAUModel(config)
        hidden, e = self.contrastive_au.hidden_size, config.embedding_dim
        steps = config.num_predicted_steps if config.pretext == "predictive" else 1
        self.predictor = _mlp(hidden, config.projection_hidden_size, steps * e)  # phi_j for every step j
        if config.pretext == "predictive":
            self.projection = _mlp(config.feature_dim, config.projection_hidden_size, e)  # psi
        self.post_init()

    @can_return_tuple
    def forward(self, pixel_values=None):
        r"""
        Args:
            pixel_values (`(B, N, 3, H, W)`): unlabelled clips; `predictive` needs
                `N = num_observed_steps + num_predicted_steps`, `instance` any `N >= 2` (split in two halves).
        """
        config = self.config
        if pixel_values is None or pixel_values.ndim != 5 or pixel_values.shape[2] != 3:
            raise ValueError(f"pixel_values must have shape (batch, frames, 3, height, width), got "
                             f"{None if pixel_values is None else tuple(pixel_values.shape)}")
        batch, frames = pixel_values.shape[:2]
        base = self.contrastive_au
        features, _ = base.frame_encoder(pixel_values)
        if config.pretext == "predictive":
            if frames != config.clip_length:
                raise ValueError(f"pixel_values must hold clips of num_observed_steps + num_predicted_steps = "
                                 f"{config.clip_length} frames, got {frames}")
            observed = config.num_observed_steps
            hidden, _ = base.temporal(features[:, :observed])
            predicted = self.predictor(hidden[:, -1]).view(batch, config.num_predicted_steps, -1)
            targets = self.projection(features[:, observed:])
        else:
            if frames < 2:
                raise ValueError(f"pretext='instance' needs clips of at least 2 frames, got {frames}")
            half = frames // 2
            first, _ = base.temporal(features[:, :half])
            second, _ = base.temporal(features[:, half:])
            predicted, targets = self.predictor(first[:, -1:]), self.predictor(second[:, -1:])
        predicted, targets = F.normalize(predicted, dim=-1), F.normalize(targets, dim=-1)
        local_targets, offset = targets.flatten(0, 1), 0
        candidates = local_targets
        if config.global_negatives:
            candidates, offset = gather_global_targets(local_targets)
        loss, logits, accuracy = info_nce(predicted.flatten(0, 1), candidates, config.temperature, offset)
        return ContrastiveAUPreTrainingOutput(loss=loss, logits=logits, accuracy=accuracy,
                                              predicted_embeddings=predicted, target_embeddings=targets)


class RecurrentStreamer:
    """Streams per-frame features through the temporal module and the regressor in chunks, carrying the state.

    Same interface as :class:`~hfvid.modules.temporal.SlidingWindowStitcher` (what the `hfvid-au-intensity`
    pipeline drives): :meth:`push` takes ``(feature (D,), unused, valid)`` items and returns the finished
    ``(index, [intensities (K)..., std (K, NaN: no uncertainty)...])`` rows; :meth:`flush` the rest. A causal GRU
    makes every chunk final at once and chunked = one pass over the whole video.
    """

    def __init__(self, model, chunk_size: int):
        self.model, self.chunk_size = model, chunk_size
        self.items: list = []
        self.offset = 0
        self.state = None

    def _run(self) -> list[tuple[int, np.ndarray]]:
        if not self.items:
            return []
        model = self.model
        features = torch.as_tensor(np.stack([item[0] for item in self.items]), dtype=model.dtype,
                                   device=model.device)[None]
        valid = torch.as_tensor([bool(item[2]) for item in self.items], device=model.device)[None]
        with torch.no_grad():
            intensities, self.state = model.intensities_from_features(features, None if valid.all() else valid,
                                                                      self.state)
        rows = intensities[0].float().cpu().numpy()
        rows = np.concatenate([rows, np.full_like(rows, np.nan)], axis=1)
        ready = list(enumerate(rows, start=self.offset))
        self.offset += len(self.items)
        self.items = []
        return ready

    def push(self, item) -> list[tuple[int, np.ndarray]]:
        self.items.append(item)
        return self._run() if len(self.items) >= self.chunk_size else []

    def flush(self) -> list[tuple[int, np.ndarray]]:
        return self._run()


class ContrastiveAUForAUIntensity(ContrastiveAUPreTrainedModel):
    """Stage 2: per-frame AU intensities ``r(c_t)``; loss only on labelled frames (sparse BPTT).

    Works with the shared `hfvid-au-intensity` pipeline (`pipeline("hfvid-au-intensity", model=...)`).

    Example:

    ```python
    >>> import torch, hfvid
    >>> from hfvid import ContrastiveAUConfig, ContrastiveAUForAUIntensity
    >>> config = ContrastiveAUConfig(image_size=32, temporal_hidden_size=16, num_aus=3,
    ...     backbone_config={"embedding_size": 8, "hidden_sizes": [16], "depths": [1], "layer_type": "basic"})
    >>> labels, mask = torch.zeros(1, 10, 3), torch.zeros(1, 10, dtype=torch.bool)
    >>> mask[0, 4] = True  # one labelled frame
    >>> out = ContrastiveAUForAUIntensity(config)(torch.randn(1, 10, 3, 32, 32), labels=labels, label_mask=mask)
    >>> out.intensities.shape, out.loss.ndim
    (torch.Size([1, 10, 3]), 0)
    ```
    """

    def __init__(self, config: ContrastiveAUConfig):
        super().__init__(config)
        self.contrastive_au = ContrastiveAUModel(config)
        hidden = self.contrastive_au.hidden_size
        self.regressor = (nn.Linear(hidden, config.num_aus) if config.regressor_hidden_size == 0
                          else _mlp(hidden, config.regressor_hidden_size, config.num_aus))
        self.post_init()

    def apply_freezing(self) -> None:
        """Freeze ``f`` and/or ``g`` as the config says (stage 2 options)."""
        self.contrastive_au.frame_encoder.requires_grad_(not self.config.freeze_feature_extractor)
        self.contrastive_au.temporal.requires_grad_(not self.config.freeze_temporal_module)

    @can_return_tuple
    def forward(self, pixel_values=None, labels=None, label_mask=None, frame_mask=None, hidden_state=None):
        r"""
        Args:
            pixel_values (`(B, T, 3, H, W)`): face crops of whole sequences or windows.
            labels (`(B, T, K)`, *optional*): intensities 0-5; NaN = missing. Only labelled frames count.
            label_mask (`(B, T)` or `(B, T, K)` bool, *optional*): the sparse labelled frames (default: every
                non-NaN label).
            frame_mask (`(B, T)` bool, *optional*), hidden_state (`(L, B, H)`, *optional*): as in the base model.
        """
        base = self.contrastive_au(pixel_values, frame_mask=frame_mask, hidden_state=hidden_state, return_dict=True)
        intensities = self.regressor(base.last_hidden_state)
        loss = None
        if labels is not None:
            shape = (*pixel_values.shape[:2], self.config.num_aus)
            if tuple(labels.shape) != shape:
                raise ValueError(f"labels must have shape {shape} (batch, frames, num_aus), got "
                                 f"{tuple(labels.shape)}")
            if label_mask is not None and tuple(label_mask.shape) not in (shape[:2], shape):
                raise ValueError(f"label_mask must have shape {shape[:2]} or {shape}, got {tuple(label_mask.shape)}")
            loss = masked_mse(intensities, labels, label_validity(labels, label_mask, frame_mask))
        return ContrastiveAUIntensityOutput(loss=loss, intensities=intensities,
                                            last_hidden_state=base.last_hidden_state, final_state=base.final_state)

    # ------------------------------------------------------------------ long videos (pipeline hooks)
    @property
    def frame_encoder(self):
        return self.contrastive_au.frame_encoder

    def encode_frames(self, pixel_values, frame_mask=None):
        """Per-frame features (the pipeline encodes frames in batches, then streams them through `g`)."""
        return self.contrastive_au.encode_frames(pixel_values, frame_mask)

    def intensities_from_features(self, features, frame_mask=None, state=None):
        """``features (B, T, D)`` (+ the previous chunk's state) -> ``(intensities (B, T, K), new state)``."""
        hidden, state = self.contrastive_au.temporal(features, frame_mask, state)
        return self.regressor(hidden), state

    def window_stitcher(self, num_samples=None, generator=None) -> RecurrentStreamer:
        """The streaming object the `hfvid-au-intensity` pipeline feeds (``num_samples``/``generator`` unused:
        this model is deterministic)."""
        return RecurrentStreamer(self, self.config.chunk_size)

    @torch.no_grad()
    def predict_sequence(self, pixel_values, chunk_size: int | None = None, clamp: bool = True) -> np.ndarray:
        """A whole video ``(T, 3, H, W)`` (normalised) -> intensities ``(T, K)``, in chunks with carried state."""
        was_training = self.training
        self.eval()
        if pixel_values.ndim != 4:
            raise ValueError(f"pixel_values must be one video (frames, 3, height, width), got "
                             f"{tuple(pixel_values.shape)}")
        chunk = chunk_size or self.config.chunk_size
        outputs, state = [], None
        for start in range(0, pixel_values.shape[0], chunk):
            frames = pixel_values[start : start + chunk].to(self.device, self.dtype)[None]
            features, _, _, _ = self.encode_frames(frames)
            intensities, state = self.intensities_from_features(features, None, state)
            outputs.append(intensities[0].float().cpu())
        self.train(was_training)
        result = torch.cat(outputs).numpy() if outputs else np.zeros((0, self.config.num_aus), np.float32)
        return np.clip(result, *self.config.intensity_range) if clamp else result


__all__ = [
    "ContrastiveAUForAUIntensity",
    "ContrastiveAUForPreTraining",
    "ContrastiveAUIntensityOutput",
    "ContrastiveAUModel",
    "ContrastiveAUModelOutput",
    "ContrastiveAUPreTrainedModel",
    "ContrastiveAUPreTrainingOutput",
    "RecurrentStreamer",
    "gather_global_targets",
    "info_nce",
]
