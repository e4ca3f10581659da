"""FRL: a transformers-ResNet face encoder, SwAV pre-training (Sinkhorn in fp32), and the few-shot task heads.

The heads are plain ``nn.Module``s that take the encoder's output, so the benchmark harness can put the same head on
any image backbone; the ``FaceRepresentationFor*`` classes are those heads on top of [`FaceRepresentationModel`].
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, ResNetModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndNoAttention
from transformers.utils import ModelOutput, can_return_tuple

from ...modules.heatmaps import (
    decode_heatmaps,
    encode_heatmaps,
    flip_heatmaps,
    from_map_coords,
    inside_map,
    to_map_coords,
)
from .configuration_face_pretraining import FaceRepresentationConfig


# --------------------------------------------------------------------------------------------------- SwAV maths
def _distributed_world():
    """The default process group's world size when one is initialised (Accelerate multi-process), else None."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return None


def sinkhorn_knopp(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """SwAV codes ``q`` (B, K) of prototype scores (B, K) by Sinkhorn-Knopp, always computed in float32.

    ``Q = exp((s - max s) / epsilon)^T`` (K x B) is scaled to total mass 1, then alternately row-normalised (each
    prototype gets mass 1/K) and column-normalised (each sample 1/B_global). The max is subtracted first so low
    precision inputs cannot overflow ``exp``; sums and the max are all-reduced when a process group exists, and
    ``B_global`` is the batch summed over processes. Returned rows sum to 1 (the plan times ``B_global``).
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must have shape (batch, num_prototypes), got {tuple(scores.shape)}")
    world = _distributed_world()
    with torch.no_grad():
        scores = scores.detach().float()
        top = scores.max()
        if world is not None:
            torch.distributed.all_reduce(top, op=torch.distributed.ReduceOp.MAX)
        plan = torch.exp((scores - top) / epsilon).t()  # (K, B)
        num_prototypes = plan.shape[0]
        batch = plan.shape[1] * (world or 1)
        total = plan.sum()
        if world is not None:
            torch.distributed.all_reduce(total)
        plan /= total
        for _ in range(iterations):
            rows = plan.sum(dim=1, keepdim=True)
            if world is not None:
                torch.distributed.all_reduce(rows)
            plan /= rows
            plan /= num_prototypes
            plan /= plan.sum(dim=0, keepdim=True)
            plan /= batch
        return (plan * batch).t()


def swav_loss(scores: torch.Tensor, codes: torch.Tensor, crops_for_assign, temperature: float = 0.1) -> torch.Tensor:
    """Swapped prediction: mean over assignment crops ``a`` of the mean over every other crop ``v`` of
    ``-(1/B) sum_b sum_k q_{a,b,k} log softmax(s_v / tau)_{b,k}``.

    ``scores`` (V, B, K) are the prototype scores of every crop, ``codes`` (A, B, K) the Sinkhorn codes of the crops
    ``crops_for_assign`` (in that order).
    """
    num_crops = scores.shape[0]
    log_probs = F.log_softmax(scores.float() / temperature, dim=-1)
    total = 0.0
    for position, crop in enumerate(crops_for_assign):
        others = [v for v in range(num_crops) if v != crop]
        cross = -(codes[position][None] * log_probs[others]).sum(-1).mean(-1)  # (V - 1,)
        total = total + cross.mean()
    return total / len(crops_for_assign)


# --------------------------------------------------------------------------------------------------- outputs
@dataclass
class FaceRepresentationSwAVPreTrainingOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`): swapped-prediction loss (computed whenever >= 2 crops are given).
        embeddings (`torch.FloatTensor` of shape `(num_crops, batch, projection_dim)`): L2-normalised projections.
        prototype_scores (`torch.FloatTensor` of shape `(num_crops, batch, num_prototypes)`): cosine scores.
        assignments (`torch.FloatTensor` of shape `(len(crops_for_assign), batch, num_prototypes)`): Sinkhorn codes.
    """

    loss: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    prototype_scores: torch.FloatTensor | None = None
    assignments: torch.FloatTensor | None = None


@dataclass
class FaceRepresentationLandmarkDetectionOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, with `labels`): heatmap MSE over the points inside the crop.
        heatmaps (`torch.FloatTensor` of shape `(batch, num_landmarks, heatmap_size, heatmap_size)`): raw heatmaps.
        landmarks (`torch.FloatTensor` of shape `(batch, num_landmarks, 2)`): (x, y) in crop pixels.
        scores (`torch.FloatTensor` of shape `(batch, num_landmarks)`): heatmap peak values.
    """

    loss: torch.FloatTensor | None = None
    heatmaps: torch.FloatTensor | None = None
    landmarks: torch.FloatTensor | None = None
    scores: torch.FloatTensor | None = None


@dataclass
class FaceRepresentationAUIntensityOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, with `labels`): MSE of the intensities (in AU intensity units).
        intensities (`torch.FloatTensor` of shape `(batch, num_action_units)`): predictions in `[0, max_intensity]`.
    """

    loss: torch.FloatTensor | None = None
    intensities: torch.FloatTensor | None = None


@dataclass
class FaceRepresentationExpressionRecognitionOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, with `labels` and/or `valence_arousal`): CE + weight * V/A MSE.
        logits (`torch.FloatTensor` of shape `(batch, num_expressions)`): expression class scores.
        valence_arousal (`torch.FloatTensor` of shape `(batch, 2)`): valence and arousal in `[-1, 1]`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    valence_arousal: torch.FloatTensor | None = None


@dataclass
class FaceRepresentation3DFaceAlignmentOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, with `labels`): L1 of the coordinates scaled by `2 / image_size`.
        landmarks_3d (`torch.FloatTensor` of shape `(batch, num_landmarks, 3)`): (x, y, z) in crop pixels (z about
            the crop centre).
    """

    loss: torch.FloatTensor | None = None
    landmarks_3d: torch.FloatTensor | None = None


@dataclass
class FaceRepresentationFaceRecognitionOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, with `labels`): ArcFace loss.
        embeddings (`torch.FloatTensor` of shape `(batch, embedding_size)`): L2-normalised identity embeddings.
        logits (`torch.FloatTensor` of shape `(batch, num_identities)`): `scale * cos` to each identity centre.
    """

    loss: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


# --------------------------------------------------------------------------------------------------- task heads
def _check_labels(labels, shape: tuple, name: str = "labels"):
    if labels is not None and tuple(labels.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(labels.shape)}")


class FaceRepresentationLandmarkHead(nn.Module):
    """SimpleBaseline-style head: ``num_deconv`` x (4x4 deconv stride 2, BN, ReLU), a 1x1 conv to heatmaps.

    Decodes with hfvid's local soft-argmax and trains on continuous Gaussian targets (``hfvid.modules.heatmaps``).
    """

    def __init__(self, in_channels: int, num_landmarks: int, image_size: int, heatmap_size: int, num_deconv: int,
                 head_channels: int = 256, sigma: float = 1.5):
        super().__init__()
        layers, channels = [], in_channels
        for _ in range(num_deconv):
            layers += [nn.ConvTranspose2d(channels, head_channels, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(head_channels), nn.ReLU(inplace=True)]
            channels = head_channels
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(channels, num_landmarks, kernel_size=1)
        self.num_landmarks, self.image_size, self.heatmap_size, self.sigma = num_landmarks, image_size, heatmap_size, sigma

    @property
    def stride(self) -> float:
        return self.image_size / self.heatmap_size

    def predict_heatmaps(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) feature map -> (B, N, heatmap_size, heatmap_size) raw heatmaps."""
        heatmaps = self.final(self.deconv(feature_map))
        if heatmaps.shape[-1] != self.heatmap_size:
            raise ValueError(f"the head made {heatmaps.shape[-1]}-pixel heatmaps, expected heatmap_size="
                             f"{self.heatmap_size}: pixel_values must be image_size={self.image_size} crops")
        return heatmaps

    def forward(self, feature_map: torch.Tensor, labels: torch.Tensor | None = None) -> FaceRepresentationLandmarkDetectionOutput:
        return self.decode(self.predict_heatmaps(feature_map), labels)

    def decode(self, heatmaps: torch.Tensor, labels: torch.Tensor | None = None) -> FaceRepresentationLandmarkDetectionOutput:
        """Heatmaps -> crop-pixel landmarks and peak scores (+ the heatmap MSE with `labels`)."""
        points, scores = decode_heatmaps(heatmaps, method="local_soft_argmax")
        landmarks = from_map_coords(points, self.stride)
        loss = None
        if labels is not None:
            _check_labels(labels, (heatmaps.shape[0], self.num_landmarks, 2))
            target_points = to_map_coords(labels.float(), self.stride)
            target = encode_heatmaps(target_points, self.heatmap_size, self.sigma).to(heatmaps.dtype)
            weight = inside_map(target_points, self.heatmap_size, self.heatmap_size).to(heatmaps.dtype)
            per_point = ((heatmaps - target) ** 2).mean(dim=(-1, -2))
            loss = (per_point * weight).sum() / weight.sum().clamp_min(1.0)
        return FaceRepresentationLandmarkDetectionOutput(loss=loss, heatmaps=heatmaps, landmarks=landmarks, scores=scores)


def _masked_mse(predictions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MSE over the finite label entries (NaN = not annotated: BP4D's uncoded AUs, AffectNet's V/A = -2)."""
    labels = labels.to(predictions.dtype)
    known = torch.isfinite(labels)
    if not known.any():
        return predictions.sum() * 0.0
    return F.mse_loss(predictions[known], labels[known])


class FaceRepresentationAUIntensityHead(nn.Module):
    """Linear regression of AU intensities, squashed to ``[0, max_intensity]`` with a sigmoid; MSE loss (NaN labels
    are skipped)."""

    def __init__(self, in_features: int, num_action_units: int, max_intensity: float = 5.0, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, num_action_units)
        self.num_action_units, self.max_intensity = num_action_units, max_intensity

    def forward(self, pooled: torch.Tensor, labels: torch.Tensor | None = None) -> FaceRepresentationAUIntensityOutput:
        intensities = self.max_intensity * torch.sigmoid(self.linear(self.dropout(pooled)))
        loss = None
        if labels is not None:
            _check_labels(labels, (pooled.shape[0], self.num_action_units))
            loss = _masked_mse(intensities, labels)
        return FaceRepresentationAUIntensityOutput(loss=loss, intensities=intensities)


class FaceRepresentationExpressionHead(nn.Module):
    """Expression classes (cross-entropy) and valence/arousal in [-1, 1] (tanh, MSE) from the pooled feature."""

    def __init__(self, in_features: int, num_expressions: int, valence_arousal_weight: float = 1.0,
                 dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_features, num_expressions)
        self.valence_arousal = nn.Linear(in_features, 2)
        self.num_expressions, self.valence_arousal_weight = num_expressions, valence_arousal_weight

    def forward(self, pooled, labels=None, valence_arousal=None) -> FaceRepresentationExpressionRecognitionOutput:
        features = self.dropout(pooled)
        logits = self.classifier(features)
        va = torch.tanh(self.valence_arousal(features))
        loss = None
        if labels is not None:
            _check_labels(labels, (pooled.shape[0],))
            loss = F.cross_entropy(logits, labels.long())
        if valence_arousal is not None:
            _check_labels(valence_arousal, (pooled.shape[0], 2), "valence_arousal")
            va_loss = self.valence_arousal_weight * _masked_mse(va, valence_arousal)
            loss = va_loss if loss is None else loss + va_loss
        return FaceRepresentationExpressionRecognitionOutput(loss=loss, logits=logits, valence_arousal=va)


class FaceRepresentation3DLandmarkHead(nn.Module):
    """Direct regression of 3D landmarks (x, y, z) in crop pixels; L1 loss on coordinates scaled to [-1, 1] (NaN label
    entries, e.g. the missing depth of 300W-LP, are left out)."""

    def __init__(self, in_features: int, num_landmarks: int, image_size: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, num_landmarks * 3)
        self.num_landmarks, self.image_size = num_landmarks, image_size

    def forward(self, pooled: torch.Tensor, labels: torch.Tensor | None = None) -> FaceRepresentation3DFaceAlignmentOutput:
        half = self.image_size / 2
        normalized = self.linear(self.dropout(pooled)).view(-1, self.num_landmarks, 3)
        offset = normalized.new_tensor([half - 0.5, half - 0.5, 0.0])
        landmarks = normalized * half + offset
        loss = None
        if labels is not None:
            _check_labels(labels, (pooled.shape[0], self.num_landmarks, 3))
            target = (labels.to(normalized.dtype) - offset) / half
            known = torch.isfinite(target)  # NaN = not annotated (300W-LP gives no depth)
            loss = F.l1_loss(normalized[known], target[known])
        return FaceRepresentation3DFaceAlignmentOutput(loss=loss, landmarks_3d=landmarks)


class FaceRepresentationArcFaceHead(nn.Module):
    """Identity embedding (Linear + BatchNorm1d) trained with ArcFace (additive angular margin) over identities."""

    def __init__(self, in_features: int, embedding_size: int, num_identities: int, scale: float = 64.0,
                 margin: float = 0.5):
        super().__init__()
        self.neck = nn.Sequential(nn.Linear(in_features, embedding_size, bias=False), nn.BatchNorm1d(embedding_size))
        self.centers = nn.Linear(embedding_size, num_identities, bias=False)
        self.scale, self.margin = scale, margin

    def forward(self, pooled: torch.Tensor, labels: torch.Tensor | None = None) -> FaceRepresentationFaceRecognitionOutput:
        embeddings = F.normalize(self.neck(pooled), dim=-1)
        cosine = embeddings @ F.normalize(self.centers.weight, dim=-1).t()
        loss = None
        if labels is not None:
            _check_labels(labels, (pooled.shape[0],))
            sine = (1.0 - cosine.pow(2)).clamp_min(1e-7).sqrt()
            with_margin = cosine * math.cos(self.margin) - sine * math.sin(self.margin)
            # insightface's rule: beyond theta = pi - m, cos(theta + m) is not monotone; use cos - m sin(m) m instead
            with_margin = torch.where(cosine > math.cos(math.pi - self.margin), with_margin,
                                      cosine - math.sin(math.pi - self.margin) * self.margin)
            one_hot = F.one_hot(labels.long(), cosine.shape[-1]).to(cosine.dtype)
            logits = self.scale * (one_hot * with_margin + (1 - one_hot) * cosine)
            loss = F.cross_entropy(logits, labels.long())
        return FaceRepresentationFaceRecognitionOutput(loss=loss, embeddings=embeddings, logits=self.scale * cosine)


# --------------------------------------------------------------------------------------------------- models
class FaceRepresentationPreTrainedModel(PreTrainedModel):
    config: FaceRepresentationConfig
    base_model_prefix = "face_repr"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    @torch.no_grad()
    def _init_weights(self, module):
        """torchvision's ResNet init (Kaiming-normal convs, BN 1/0), PyTorch's Linear default, empty SwAV queue."""
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            if getattr(module, "num_batches_tracked", None) is not None:
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1])
                init.uniform_(module.bias, -bound, bound)
        if isinstance(module, FaceRepresentationForSwAVPreTraining) and module.queue is not None:
            init.zeros_(module.queue)


class FaceRepresentationModel(FaceRepresentationPreTrainedModel):
    """The FRL face encoder: a transformers `ResNetModel` (torchvision layout, so FRL weights convert 1:1).

    Returns `last_hidden_state` (batch, hidden_size, h, w), `pooler_output` (batch, hidden_size) (L2-normalised when
    `config.normalize_pooled_output`) and, with `output_hidden_states`, the stem and every stage map.
    """

    def __init__(self, config: FaceRepresentationConfig):
        super().__init__(config)
        self.resnet = ResNetModel(config.resnet_config())
        self.post_init()

    @can_return_tuple
    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None,
                crop_matrices: torch.Tensor | None = None, image_indices: torch.Tensor | None = None,
                boxes: torch.Tensor | None = None) -> BaseModelOutputWithPoolingAndNoAttention:
        """`pixel_values` (batch, num_channels, H, W) normalised face crops; `output_hidden_states`: also return
        the stem and every stage map (default `config.output_hidden_states`). `crop_matrices`, `image_indices` and
        `boxes` are the image processor's bookkeeping for mapping crop outputs back to the image: the encoder does
        not use them, it accepts them so `model(**processor(images))` works (as the stock image-feature-extraction
        pipeline calls it); any other keyword raises a TypeError."""
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 4 \
                or pixel_values.shape[1] != self.config.num_channels:
            shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values)
            raise ValueError(f"pixel_values must be a tensor of shape (batch, {self.config.num_channels}, H, W), "
                             f"got {shape}")
        out = self.resnet(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        pooled = out.pooler_output.flatten(1)
        if self.config.normalize_pooled_output:
            pooled = F.normalize(pooled, dim=-1)
        return BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=out.last_hidden_state, pooler_output=pooled, hidden_states=out.hidden_states
        )


class FaceRepresentationForSwAVPreTraining(FaceRepresentationPreTrainedModel):
    """SwAV on faces: encoder + projection MLP (Linear-BN-ReLU-Linear, L2-normalised) + prototypes.

    Call `normalize_prototypes()` before every optimiser step (the training script does). Pass `iteration` to freeze
    the prototypes (no gradient) during the first `freeze_prototypes_niters` iterations, and `use_queue=True` (from
    epoch `epoch_queue_starts` on) to let Sinkhorn see `queue_length` past embeddings too.
    """

    def __init__(self, config: FaceRepresentationConfig):
        super().__init__(config)
        self.face_repr = FaceRepresentationModel(config)
        self.projection_head = nn.Sequential(
            nn.Linear(config.hidden_size, config.projection_hidden_size),
            nn.BatchNorm1d(config.projection_hidden_size),
            nn.ReLU(inplace=True),
            nn.Linear(config.projection_hidden_size, config.projection_dim),
        )
        self.prototypes = nn.Linear(config.projection_dim, config.num_prototypes, bias=False)
        queue = None
        if config.queue_length > 0:
            queue = torch.zeros(len(config.crops_for_assign), config.queue_length, config.projection_dim)
        self.register_buffer("queue", queue, persistent=False)
        self.post_init()

    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        """Project every prototype row back to unit L2 norm (in place, before each step)."""
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def embed(self, crops: list[torch.Tensor]) -> torch.Tensor:
        """(num_crops, batch, projection_dim) L2-normalised embeddings; consecutive same-size crops share a pass."""
        groups, start = [], 0
        for end in range(1, len(crops) + 1):
            if end == len(crops) or crops[end].shape != crops[start].shape:
                groups.append(torch.cat(crops[start:end]))
                start = end
        pooled = torch.cat([self.face_repr(group, return_dict=True).pooler_output for group in groups])
        embeddings = F.normalize(self.projection_head(pooled), dim=-1)
        return embeddings.view(len(crops), crops[0].shape[0], -1)

    @can_return_tuple
    def forward(self, pixel_values, iteration: int | None = None, use_queue: bool = False) -> FaceRepresentationSwAVPreTrainingOutput:
        r"""
        Args:
            pixel_values (`list[torch.FloatTensor]` or `torch.FloatTensor`): the crops of one batch in multi-crop
                order (all `crop_sizes[0]` crops first), each `(batch, 3, size, size)`; a single tensor is one crop
                (no loss).
            iteration (`int`, *optional*): training iteration; prototypes get no gradient while it is below
                `config.freeze_prototypes_niters`.
            use_queue (`bool`, *optional*, defaults to `False`): push this batch's assignment-crop embeddings into
                the queue (training mode only) and, once it is full, prepend it to the Sinkhorn input.
        """
        crops = [pixel_values] if isinstance(pixel_values, torch.Tensor) else list(pixel_values)
        if not crops or any(not isinstance(c, torch.Tensor) or c.ndim != 4 for c in crops):
            raise ValueError("pixel_values must be a list of crops, each a (batch, 3, size, size) tensor")
        if len({c.shape[0] for c in crops}) != 1:
            raise ValueError(f"every crop in pixel_values must have the same batch size, got {[c.shape[0] for c in crops]}")
        embeddings = self.embed(crops)
        weight = self.prototypes.weight
        if iteration is not None and iteration < self.config.freeze_prototypes_niters:
            weight = weight.detach()
        scores = embeddings @ weight.t()  # (V, B, K)

        assign = [i for i in self.config.crops_for_assign if i < len(crops)]
        loss = codes = None
        if len(crops) >= 2 and assign:
            batch = crops[0].shape[0]
            code_list = []
            for position, crop in enumerate(assign):
                crop_scores = scores[crop].detach()
                # the queue joins Sinkhorn only once full (its oldest row non-zero), as in SwAV: zero rows would be
                # fake samples pulling every code towards the same prototypes
                if use_queue and self.queue is not None and bool(self.queue[position, -1].any()):
                    queue_scores = self.queue[position] @ self.prototypes.weight.detach().t()
                    crop_scores = torch.cat([queue_scores, crop_scores])
                code_list.append(sinkhorn_knopp(crop_scores, self.config.sinkhorn_epsilon,
                                                self.config.sinkhorn_iterations)[-batch:])
                if use_queue and self.queue is not None and self.training:
                    self.queue[position] = torch.cat([embeddings[crop].detach(), self.queue[position, :-batch]])
            codes = torch.stack(code_list)
            loss = swav_loss(scores, codes, assign, self.config.temperature)
        return FaceRepresentationSwAVPreTrainingOutput(loss=loss, embeddings=embeddings, prototype_scores=scores, assignments=codes)


class _FaceRepresentationWithHead(FaceRepresentationPreTrainedModel):
    """Shared plumbing: encoder + one head that reads `pooler_output` (landmarks override `forward`: last map)."""

    def __init__(self, config: FaceRepresentationConfig):
        super().__init__(config)
        self.face_repr = FaceRepresentationModel(config)
        self.head = self.build_head(config)
        self.post_init()

    def build_head(self, config) -> nn.Module:
        raise NotImplementedError

    @can_return_tuple
    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None):
        """`pixel_values` (batch, 3, H, W) face crops; `labels`: the head's targets (see the class doc)."""
        return self.head(self.face_repr(pixel_values, return_dict=True).pooler_output, labels)


class FaceRepresentationForLandmarkDetection(_FaceRepresentationWithHead):
    """2D face alignment: deconvolution heatmap head on the last ResNet map; `labels` (batch, N, 2) crop pixels.

    Follows hfvid's landmark-model contract (every `AutoModelForPoseEstimation` model, served by the
    `hfvid-facial-landmarks` pipeline): `forward(pixel_values, flip_test=False, labels=None)` returns `landmarks`
    (batch, N, 2) and `scores` (batch, N) in crop pixels; `flip_test=True` averages the heatmaps with those of the
    mirrored crop (flipped back, channels permuted by `config.flip_permutation`) and needs that mirror table.
    """

    def build_head(self, config):
        if config.heatmap_size * 4 != config.image_size:
            raise ValueError(f"heatmap_size must be image_size / 4 = {config.image_size / 4}, got {config.heatmap_size}")
        num_deconv = int(round(math.log2(config.heatmap_size / (config.image_size / 32))))
        return FaceRepresentationLandmarkHead(config.hidden_size, config.num_landmarks, config.image_size, config.heatmap_size,
                                   num_deconv, config.head_channels, config.heatmap_sigma)

    @can_return_tuple
    def forward(self, pixel_values: torch.Tensor, flip_test: bool = False,
                labels: torch.Tensor | None = None) -> FaceRepresentationLandmarkDetectionOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, 3, image_size, image_size)`): face crops.
            flip_test (`bool`, *optional*, defaults to `False`): average with the mirrored crop's heatmaps (needs
                `config.flip_permutation`).
            labels (`torch.FloatTensor` of shape `(batch, num_landmarks, 2)`, *optional*): crop-pixel targets.
        """
        permutation = self.config.flip_permutation
        if flip_test and permutation is None:
            raise ValueError("flip_test needs config.flip_permutation (the landmark mirror table); this model has "
                             "none, call it with flip_test=False")
        batch = pixel_values.shape[0]
        inputs = torch.cat([pixel_values, pixel_values.flip(-1)]) if flip_test else pixel_values
        heatmaps = self.head.predict_heatmaps(self.face_repr(inputs, return_dict=True).last_hidden_state)
        if flip_test:
            heatmaps = 0.5 * (heatmaps[:batch] + flip_heatmaps(heatmaps[batch:], permutation))
        return self.head.decode(heatmaps, labels)


class FaceRepresentationForAUIntensity(_FaceRepresentationWithHead):
    """AU intensity regression; `labels` (batch, num_action_units) in `[0, max_au_intensity]`."""

    def build_head(self, config):
        return FaceRepresentationAUIntensityHead(config.hidden_size, config.num_action_units, config.max_au_intensity,
                               config.head_dropout)


class FaceRepresentationForExpressionRecognition(_FaceRepresentationWithHead):
    """Expression classes + valence/arousal; `labels` (batch,) class ids, `valence_arousal` (batch, 2)."""

    def build_head(self, config):
        return FaceRepresentationExpressionHead(config.hidden_size, config.num_expressions, config.valence_arousal_weight,
                              config.head_dropout)

    @can_return_tuple
    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                valence_arousal: torch.Tensor | None = None):
        """`pixel_values` (batch, 3, H, W) face crops; `labels` (batch,) class ids, `valence_arousal` (batch, 2)."""
        return self.head(self.face_repr(pixel_values, return_dict=True).pooler_output, labels, valence_arousal)


class FaceRepresentationFor3DFaceAlignment(_FaceRepresentationWithHead):
    """3D face alignment (AFLW2000-3D style): `labels` (batch, num_3d_landmarks, 3) in crop pixels."""

    def build_head(self, config):
        return FaceRepresentation3DLandmarkHead(config.hidden_size, config.num_3d_landmarks, config.image_size, config.head_dropout)


class FaceRepresentationForFaceRecognition(_FaceRepresentationWithHead):
    """Face recognition with ArcFace over `num_identities`; also the *supervised* identity pre-training variant
    the paper compares SwAV against. `labels` (batch,) identity ids."""

    def build_head(self, config):
        return FaceRepresentationArcFaceHead(config.hidden_size, config.recognition_embedding_size, config.num_identities,
                           config.arcface_scale, config.arcface_margin)


__all__ = [
    "FaceRepresentation3DFaceAlignmentOutput",
    "FaceRepresentation3DLandmarkHead",
    "FaceRepresentationAUIntensityHead",
    "FaceRepresentationAUIntensityOutput",
    "FaceRepresentationArcFaceHead",
    "FaceRepresentationExpressionHead",
    "FaceRepresentationExpressionRecognitionOutput",
    "FaceRepresentationFaceRecognitionOutput",
    "FaceRepresentationFor3DFaceAlignment",
    "FaceRepresentationForAUIntensity",
    "FaceRepresentationForExpressionRecognition",
    "FaceRepresentationForFaceRecognition",
    "FaceRepresentationForLandmarkDetection",
    "FaceRepresentationForSwAVPreTraining",
    "FaceRepresentationLandmarkDetectionOutput",
    "FaceRepresentationLandmarkHead",
    "FaceRepresentationModel",
    "FaceRepresentationPreTrainedModel",
    "FaceRepresentationSwAVPreTrainingOutput",
    "sinkhorn_knopp",
    "swav_loss",
]
