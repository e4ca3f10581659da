"""Keypoints-to-Landmarks: a FAN keypoint detector + descriptor (stage 1) and the K-landmark detector made from it.

Stage 1 learns, by self-training, a detector map and dense descriptors whose clusters are consistent object parts;
stage 2 swaps the descriptor head's last convolution for one with K outputs and regresses K heatmaps from the
K-cluster pseudo-labels, with channels absent from an image masked out of the loss.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, can_return_tuple

from ...clustering import assign_unique
from ...modules.heatmaps import decode_heatmaps, flip_heatmaps, from_map_coords, inside_map, to_map_coords
from ...modules.hourglass import ConvBlock, HourGlass, make_norm
from .configuration_keypoints_to_landmarks import KeypointsToLandmarksConfig


@dataclass
class KeypointsToLandmarksModelOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `keypoints` are given):
            `descriptor_loss_weight * descriptor_loss + detector_loss`.
        detection_map (`torch.FloatTensor` of shape `(batch, 1, heatmap_size, heatmap_size)`): sigmoid keypoint
            probability of the first view.
        descriptors (`torch.FloatTensor` of shape `(batch, descriptor_dim, heatmap_size, heatmap_size)`): raw
            (unnormalised) descriptors of the first view.
        detector_loss (`torch.FloatTensor` of shape `()`): MSE of the detection maps against single-pixel targets.
        descriptor_loss (`torch.FloatTensor` of shape `()`): contrastive loss over the positive and negative pairs.
    """

    loss: torch.FloatTensor | None = None
    detection_map: torch.FloatTensor | None = None
    descriptors: torch.FloatTensor | None = None
    detector_loss: torch.FloatTensor | None = None
    descriptor_loss: torch.FloatTensor | None = None


@dataclass
class KeypointsToLandmarksLandmarkDetectionOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` are given): masked heatmap loss
            `(1 / (B K)) sum_{b,k} w_bk 0.5 mean_pixels (H_bk - T_bk)^2`.
        heatmaps (`torch.FloatTensor` of shape `(batch, num_landmarks, heatmap_size, heatmap_size)`): landmark heatmaps
            (averaged with the mirrored crop's under `flip_test`).
        landmarks (`torch.FloatTensor` of shape `(batch, num_landmarks, 2)`): decoded (x, y) in crop pixels.
        scores (`torch.FloatTensor` of shape `(batch, num_landmarks)`): heatmap value at each peak.
    """

    loss: torch.FloatTensor | None = None
    heatmaps: torch.FloatTensor | None = None
    landmarks: torch.FloatTensor | None = None
    scores: torch.FloatTensor | None = None


class KeypointsToLandmarksBackbone(nn.Module):
    """FAN stem (7x7/2 conv, ConvBlock, 2x2 pool, two ConvBlocks) + one hourglass, at input / 4 resolution."""

    def __init__(self, config: KeypointsToLandmarksConfig):
        super().__init__()
        norm = dict(norm_type="group", num_groups=config.num_groups)
        half = config.hidden_size // 2
        self.conv1 = nn.Conv2d(3, config.stem_channels, 7, stride=2, padding=3)
        self.bn1 = make_norm("group", config.stem_channels, config.num_groups)
        self.conv2 = ConvBlock(config.stem_channels, half, **norm)
        self.conv3 = ConvBlock(half, half, **norm)
        self.conv4 = ConvBlock(half, config.hidden_size, **norm)
        self.hourglass = HourGlass(config.hourglass_depth, config.hidden_size, **norm)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(pixel_values)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        return self.hourglass(self.conv4(self.conv3(x)))


class KeypointsToLandmarksHead(nn.Module):
    """ConvBlock -> 1x1 conv -> GroupNorm -> ReLU -> 1x1 conv to ``out_channels`` (the detector/descriptor layout).

    The descriptor head's last conv has no bias: the contrastive loss only sees descriptor differences, so a bias
    would never receive a gradient. `out_init_std` gives the last conv a small normal init (stage-2 heatmaps)."""

    def __init__(self, config: KeypointsToLandmarksConfig, out_channels: int, bias: bool = True,
                 out_init_std: float | None = None):
        super().__init__()
        self.block = ConvBlock(config.hidden_size, config.hidden_size, "group", config.num_groups)
        self.conv = nn.Conv2d(config.hidden_size, config.hidden_size, 1)
        self.norm = make_norm("group", config.hidden_size, config.num_groups)
        self.out = nn.Conv2d(config.hidden_size, out_channels, 1, bias=bias)
        self.out.init_std = out_init_std  # read by `_init_weights`: None = Kaiming, else N(0, std) and zero bias

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.norm(self.conv(self.block(features)))))


class KeypointsToLandmarksPreTrainedModel(PreTrainedModel):
    config: KeypointsToLandmarksConfig
    base_model_prefix = "keypoints_to_landmarks"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True  # the backbone's hourglass

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, nn.Conv2d) and getattr(module, "init_std", None) is not None:
            # the stage-2 heatmap output starts near zero: Kaiming fan-out on a K-channel 1x1 conv gives heatmaps of
            # order 1-10 against targets that are 0 almost everywhere, and short schedules spend their steps undoing it
            init.normal_(module.weight, std=module.init_std)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if isinstance(module, KeypointsToLandmarksModel):  # "not clustered yet"
            init.zeros_(module.k_centroids)
            init.zeros_(module.m_centroids)

    def _check_pixels(self, pixel_values: torch.Tensor, name: str = "pixel_values") -> None:
        expected = (3, self.config.image_size, self.config.image_size)
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(f"{name} must have shape (batch, {', '.join(map(str, expected))}), "
                             f"got {tuple(pixel_values.shape)}")

    @property
    def stride(self) -> float:
        return self.config.image_size / self.config.heatmap_size


def _flat_index(points: torch.Tensor, size: int) -> torch.Tensor:
    """Integer grid points (..., 2) -> flat indices ``y * size + x`` (clamped to the map)."""
    points = points.long().clamp(0, size - 1)
    return points[..., 1] * size + points[..., 0]


def _gather_descriptors(descriptors: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Descriptors (B, D, H, W) at integer grid points (B, N, 2) -> (B, N, D) (no interpolation, as the paper)."""
    index = _flat_index(points, descriptors.shape[-1])
    flat = descriptors.flatten(2)  # (B, D, H*W)
    return torch.gather(flat, 2, index[:, None, :].expand(-1, flat.shape[1], -1)).transpose(1, 2)


def contrastive_terms(
    first: torch.Tensor, second: torch.Tensor, positive: torch.Tensor, margin: float, eps: float = 1e-9
) -> torch.Tensor:
    """Per pair loss: ``||a - b||^2`` for positives, ``max(0, m - sqrt(||a - b||^2 + eps))^2`` for negatives."""
    squared = ((first - second) ** 2).sum(-1)
    negative = F.relu(margin - torch.sqrt(squared + eps)) ** 2
    return torch.where(positive, squared, negative)


class KeypointsToLandmarksModel(KeypointsToLandmarksPreTrainedModel):
    """Stage 1: shared FAN backbone with a sigmoid detector head and a dense descriptor head.

    Buffers `k_centroids (K, D)` and `m_centroids (M, D)` hold the (L2-normalised) cluster centres of the last
    correspondence recovery; `k_centroids` define the landmark identities when a stage-1 model is evaluated.
    """

    def __init__(self, config: KeypointsToLandmarksConfig):
        super().__init__(config)
        self.backbone = KeypointsToLandmarksBackbone(config)
        self.detector_head = KeypointsToLandmarksHead(config, 1)
        self.descriptor_head = KeypointsToLandmarksHead(config, config.descriptor_dim, bias=False)
        self.register_buffer("k_centroids", torch.zeros(config.num_landmarks, config.descriptor_dim))
        self.register_buffer("m_centroids", torch.zeros(config.num_clusters, config.descriptor_dim))
        self.post_init()

    def _maps(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(pixel_values)
        return torch.sigmoid(self.detector_head(features)), self.descriptor_head(features)

    def _detector_loss(self, detection_map: torch.Tensor, keypoints: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """MSE against a map that is 1 at every (rounded) keypoint and 0 elsewhere."""
        size = detection_map.shape[-1]
        target = torch.zeros_like(detection_map.flatten(1))
        target = target.scatter_reduce(1, _flat_index(keypoints, size), mask.to(target.dtype), reduce="amax")
        return F.mse_loss(detection_map.flatten(1), target)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        pixel_values_pair: torch.Tensor | None = None,
        keypoints: torch.Tensor | None = None,
        keypoint_mask: torch.Tensor | None = None,
        keypoints_pair: torch.Tensor | None = None,
        keypoint_mask_pair: torch.Tensor | None = None,
        positive_pairs: torch.Tensor | None = None,
        positive_mask: torch.Tensor | None = None,
        negative_pairs: torch.Tensor | None = None,
        negative_mask: torch.Tensor | None = None,
    ) -> KeypointsToLandmarksModelOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, 3, image_size, image_size)`): first views.
            pixel_values_pair (`torch.FloatTensor`, *optional*): second views (another augmentation of the same image
                or another image), same shape.
            keypoints (`torch.LongTensor` of shape `(batch, P, 2)`, *optional*): pseudo-label locations (x, y) on the
                heatmap grid of the first views; `keypoint_mask (batch, P)` marks the real ones (rest is padding).
                Giving them turns on the loss.
            keypoints_pair, keypoint_mask_pair (*optional*): the same for the second views.
            positive_pairs (`torch.LongTensor` of shape `(batch, Np, 4)`, *optional*): `(x1, y1, x2, y2)`: a grid
                point of the first view and one of the second view with the same cluster id; `positive_mask`.
            negative_pairs (`torch.LongTensor` of shape `(batch, V, Nn, 4)`, *optional*): pairs of grid points within
                view `v` (V = 1 or 2 views) that must differ; `negative_mask (batch, V, Nn)`.

        Example:

        ```python
        >>> import torch, hfvid
        >>> from hfvid import KeypointsToLandmarksConfig, KeypointsToLandmarksModel
        >>> config = KeypointsToLandmarksConfig(num_landmarks=5, num_clusters=10, hidden_size=32, hourglass_depth=2,
        ...                                     image_size=64, heatmap_size=16, descriptor_dim=16)
        >>> out = KeypointsToLandmarksModel(config)(torch.rand(2, 3, 64, 64))
        >>> out.detection_map.shape, out.descriptors.shape
        (torch.Size([2, 1, 16, 16]), torch.Size([2, 16, 16, 16]))
        ```
        """
        self._check_pixels(pixel_values)
        batch = pixel_values.shape[0]
        inputs = [pixel_values]
        if pixel_values_pair is not None:
            self._check_pixels(pixel_values_pair, "pixel_values_pair")
            if pixel_values_pair.shape[0] != batch:
                raise ValueError("pixel_values_pair must have as many views as pixel_values")
            inputs.append(pixel_values_pair)
        detection, descriptors = self._maps(torch.cat(inputs))
        detection_views, descriptor_views = detection.split(batch), descriptors.split(batch)

        loss = detector_loss = descriptor_loss = None
        if keypoints is not None:
            if keypoints.ndim != 3 or keypoints.shape[0] != batch or keypoints.shape[-1] != 2:
                raise ValueError(f"keypoints must have shape ({batch}, P, 2), got {tuple(keypoints.shape)}")
            mask = torch.ones_like(keypoints[..., 0], dtype=torch.bool) if keypoint_mask is None else keypoint_mask
            detector_loss = self._detector_loss(detection_views[0], keypoints, mask.bool())
            if keypoints_pair is not None:
                if pixel_values_pair is None:
                    raise ValueError("keypoints_pair needs pixel_values_pair")
                mask_pair = keypoint_mask_pair if keypoint_mask_pair is not None else torch.ones_like(
                    keypoints_pair[..., 0], dtype=torch.bool)
                detector_loss = detector_loss + self._detector_loss(detection_views[1], keypoints_pair,
                                                                    mask_pair.bool())
            margin = self.config.contrastive_margin
            total = detector_loss.new_zeros(())
            count = detector_loss.new_zeros(())
            if positive_pairs is not None:
                if pixel_values_pair is None:
                    raise ValueError("positive_pairs need pixel_values_pair (they join the two views)")
                weight = (torch.ones_like(positive_pairs[..., 0]) if positive_mask is None else positive_mask).float()
                first = _gather_descriptors(descriptor_views[0], positive_pairs[..., :2])
                second = _gather_descriptors(descriptor_views[1], positive_pairs[..., 2:])
                is_positive = torch.ones_like(weight, dtype=torch.bool)
                total = total + (contrastive_terms(first, second, is_positive, margin) * weight).sum()
                count = count + weight.sum()
            if negative_pairs is not None:
                if negative_pairs.ndim != 4 or negative_pairs.shape[1] > len(descriptor_views):
                    raise ValueError(f"negative_pairs must have shape ({batch}, V, Nn, 4) with V <= "
                                     f"{len(descriptor_views)} views, got {tuple(negative_pairs.shape)}")
                weights = (torch.ones_like(negative_pairs[..., 0]) if negative_mask is None else negative_mask).float()
                for view in range(negative_pairs.shape[1]):
                    pairs, weight = negative_pairs[:, view], weights[:, view]
                    first = _gather_descriptors(descriptor_views[view], pairs[..., :2])
                    second = _gather_descriptors(descriptor_views[view], pairs[..., 2:])
                    is_positive = torch.zeros_like(weight, dtype=torch.bool)
                    total = total + (contrastive_terms(first, second, is_positive, margin) * weight).sum()
                    count = count + weight.sum()
            descriptor_loss = total / count.clamp_min(1.0)
            loss = self.config.descriptor_loss_weight * descriptor_loss + detector_loss

        return KeypointsToLandmarksModelOutput(
            loss=loss,
            detection_map=detection_views[0],
            descriptors=descriptor_views[0],
            detector_loss=detector_loss,
            descriptor_loss=descriptor_loss,
        )

    @torch.no_grad()
    def detect_keypoints(
        self, detection_map: torch.Tensor, threshold: float | None = None, nms_radius: int | None = None,
        max_keypoints: int | None = None,
    ) -> list[torch.Tensor]:
        """Detection maps (B, 1, H, W) -> per image grid points (n_i, 2): threshold, max-pool NMS of half-size
        `nms_radius`, peaks closer than `config.detector_border` to the edge dropped, the `max_keypoints` strongest,
        each moved a quarter pixel towards its larger neighbour. With `config.min_keypoints`, the strongest peaks
        below the threshold fill up to that many."""
        threshold = self.config.detector_threshold if threshold is None else threshold
        radius = self.config.detector_nms_radius if nms_radius is None else nms_radius
        limit = self.config.max_keypoints if max_keypoints is None else max_keypoints
        if detection_map.ndim != 4 or detection_map.shape[1] != 1:
            raise ValueError(f"detection_map must have shape (batch, 1, H, W), got {tuple(detection_map.shape)}")
        scores = detection_map[:, 0]
        peaks = scores == F.max_pool2d(scores[:, None], 2 * radius + 1, stride=1, padding=radius)[:, 0]
        height, width = scores.shape[-2:]
        border = self.config.detector_border
        if border:
            inner = torch.zeros_like(peaks)
            inner[:, border:height - border, border:width - border] = True
            peaks = peaks & inner
        points = []
        for score, peak in zip(scores, peaks):
            ys, xs = torch.nonzero(peak, as_tuple=True)
            values = score[ys, xs]
            order = values.argsort(descending=True)
            count = max(int((values > threshold).sum()), min(self.config.min_keypoints, len(order)))
            order = order[: min(count, limit)]
            ys, xs = ys[order], xs[order]
            pad = F.pad(score[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
            dx = torch.sign(pad[ys + 1, xs + 2] - pad[ys + 1, xs]) * 0.25
            dy = torch.sign(pad[ys + 2, xs + 1] - pad[ys, xs + 1]) * 0.25
            points.append(torch.stack([xs + dx, ys + dy], dim=-1).to(scores.dtype))
        return points

    @torch.no_grad()
    def sample_descriptors(self, descriptors: torch.Tensor, points: list[torch.Tensor]) -> list[torch.Tensor]:
        """L2-normalised descriptors (n_i, D) bilinearly sampled at grid points (n_i, 2) of each image."""
        height, width = descriptors.shape[-2:]
        samples = []
        for descriptor_map, image_points in zip(descriptors, points):
            scale = image_points.new_tensor([2.0 / width, 2.0 / height])
            grid = ((image_points + 0.5) * scale - 1.0).view(1, 1, -1, 2)  # centre-at-integer -> [-1, 1]
            sampled = F.grid_sample(descriptor_map[None], grid, align_corners=False)[0, :, 0].T
            samples.append(F.normalize(sampled, dim=-1))
        return samples

    @torch.no_grad()
    def predict_landmarks(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Stage-1 landmarks (B, K, 2) in crop pixels: detections assigned to the nearest K centroid, the closest
        detection kept per centroid, NaN where a landmark was not found."""
        output = self(pixel_values)
        points = self.detect_keypoints(output.detection_map)
        descriptors = self.sample_descriptors(output.descriptors, points)
        landmarks = torch.full((len(points), self.config.num_landmarks, 2), float("nan"))
        counts = [len(p) for p in points]
        if sum(counts):
            image_ids = torch.repeat_interleave(torch.arange(len(points)), torch.tensor(counts))
            labels, _ = assign_unique(image_ids.numpy(), torch.cat(descriptors).cpu(), self.k_centroids.cpu(),
                                      normalize=False)
            flat_points = torch.cat(points).cpu()
            for row, label in enumerate(labels):
                if label >= 0:
                    landmarks[image_ids[row], label] = flat_points[row]
        return from_map_coords(landmarks, self.stride).to(pixel_values.device)


class KeypointsToLandmarksForLandmarkDetection(KeypointsToLandmarksPreTrainedModel):
    """Stage 2: K landmark heatmaps from the stage-1 backbone and descriptor head (last conv replaced)."""

    def __init__(self, config: KeypointsToLandmarksConfig):
        super().__init__(config)
        self.backbone = KeypointsToLandmarksBackbone(config)
        self.landmark_head = KeypointsToLandmarksHead(config, config.num_landmarks, out_init_std=config.landmark_head_init_std)
        self.post_init()

    @classmethod
    def from_stage1(cls, model: KeypointsToLandmarksModel, num_landmarks: int | None = None,
                    flip_permutation: list[int] | None = None) -> "KeypointsToLandmarksForLandmarkDetection":
        """The head swap: copy the backbone and the descriptor head except its last conv, which gets K outputs
        (freshly initialised)."""
        config = model.config.__class__.from_dict(model.config.to_dict())
        if num_landmarks is not None:
            config.num_landmarks = num_landmarks
            config.num_clusters = max(config.num_clusters, num_landmarks)
        if flip_permutation is not None:
            config.flip_permutation = list(flip_permutation)
        elif config.flip_permutation is not None and len(config.flip_permutation) != config.num_landmarks:
            config.flip_permutation = None
        stage2 = cls(config)
        stage2.backbone.load_state_dict(model.backbone.state_dict())
        head = {k: v for k, v in model.descriptor_head.state_dict().items() if not k.startswith("out.")}
        missing, unexpected = stage2.landmark_head.load_state_dict(head, strict=False)
        if unexpected or sorted(missing) != ["out.bias", "out.weight"]:
            raise ValueError(f"stage-1 descriptor head does not match: missing {missing}, unexpected {unexpected}")
        return stage2.to(next(model.parameters()).device)

    def target_heatmaps(self, labels: torch.Tensor) -> torch.Tensor:
        """3x3 Gaussian stamps (sigma `stage2_gaussian_sigma`) at the rounded grid location of each label."""
        size = self.config.heatmap_size
        centres = torch.round(to_map_coords(labels.float(), self.stride))
        grid = torch.arange(size, device=labels.device, dtype=torch.float32)
        dx = grid - centres[..., 0:1]  # (B, K, W)
        dy = grid - centres[..., 1:2]
        sigma = self.config.stage2_gaussian_sigma
        gx = torch.exp(-(dx**2) / (2 * sigma**2)) * (dx.abs() <= 1)
        gy = torch.exp(-(dy**2) / (2 * sigma**2)) * (dy.abs() <= 1)
        return gy[..., :, None] * gx[..., None, :]

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        landmark_mask: torch.Tensor | None = None,
        flip_test: bool = False,
    ) -> KeypointsToLandmarksLandmarkDetectionOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, 3, image_size, image_size)`): object crops.
            labels (`torch.FloatTensor` of shape `(batch, num_landmarks, 2)`, *optional*): pseudo-label landmarks in
                crop pixels (from the K-clustering of stage 1).
            landmark_mask (`torch.BoolTensor` of shape `(batch, num_landmarks)`, *optional*): which landmarks the image
                has; absent channels add exactly zero loss. Points off the crop are always excluded.
            flip_test (`bool`, *optional*, defaults to `False`): average with the mirrored crop's heatmaps (flipped
                back, channels permuted by `config.flip_permutation`).

        Example:

        ```python
        >>> import torch, hfvid
        >>> from hfvid import KeypointsToLandmarksConfig, KeypointsToLandmarksForLandmarkDetection
        >>> config = KeypointsToLandmarksConfig(num_landmarks=5, num_clusters=10, hidden_size=32, hourglass_depth=2,
        ...                                     image_size=64, heatmap_size=16, descriptor_dim=16)
        >>> out = KeypointsToLandmarksForLandmarkDetection(config)(torch.rand(2, 3, 64, 64),
        ...                                                       labels=torch.rand(2, 5, 2) * 63)
        >>> out.landmarks.shape, out.loss.ndim
        (torch.Size([2, 5, 2]), 0)
        ```
        """
        self._check_pixels(pixel_values)
        batch, num_landmarks = pixel_values.shape[0], self.config.num_landmarks
        if labels is not None and tuple(labels.shape) != (batch, num_landmarks, 2):
            raise ValueError(f"labels must have shape ({batch}, {num_landmarks}, 2), got {tuple(labels.shape)}")
        if landmark_mask is not None and tuple(landmark_mask.shape) != (batch, num_landmarks):
            raise ValueError(f"landmark_mask must have shape ({batch}, {num_landmarks}), "
                             f"got {tuple(landmark_mask.shape)}")
        if flip_test and self.config.flip_permutation is None:
            raise ValueError("flip_test needs config.flip_permutation (the landmark mirror table learned in stage 1)")
        inputs = torch.cat([pixel_values, pixel_values.flip(-1)]) if flip_test else pixel_values
        all_heatmaps = self.landmark_head(self.backbone(inputs))
        heatmaps = all_heatmaps[:batch]
        if flip_test:
            heatmaps = 0.5 * (heatmaps + flip_heatmaps(all_heatmaps[batch:], self.config.flip_permutation))

        loss = None
        if labels is not None:
            size = self.config.heatmap_size
            mask = torch.ones_like(labels[..., 0], dtype=torch.bool) if landmark_mask is None else landmark_mask.bool()
            mask = mask & inside_map(to_map_coords(torch.nan_to_num(labels), self.stride), size, size)
            mask = mask & torch.isfinite(labels).all(-1)
            target = self.target_heatmaps(torch.nan_to_num(labels)).to(heatmaps.dtype)
            per_channel = ((heatmaps - target) ** 2).mean(dim=(-1, -2))  # (B, K)
            loss = 0.5 * (per_channel * mask.to(per_channel.dtype)).sum() / (batch * num_landmarks)

        points, scores = decode_heatmaps(heatmaps, method=self.config.decode_method)
        return KeypointsToLandmarksLandmarkDetectionOutput(
            loss=loss, heatmaps=heatmaps, landmarks=from_map_coords(points, self.stride), scores=scores
        )


__all__ = [
    "KeypointsToLandmarksBackbone",
    "KeypointsToLandmarksForLandmarkDetection",
    "KeypointsToLandmarksHead",
    "KeypointsToLandmarksLandmarkDetectionOutput",
    "KeypointsToLandmarksModel",
    "KeypointsToLandmarksModelOutput",
    "KeypointsToLandmarksPreTrainedModel",
    "contrastive_terms",
]
