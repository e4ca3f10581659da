"""Subpixel Heatmap Regression (SH-FAN): FAN trained on continuous heatmaps with a Siamese consistency loss."""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, can_return_tuple

from ...modules.heatmaps import (
    apply_affine,
    decode_heatmaps,
    encode_heatmaps,
    flip_heatmaps,
    from_map_coords,
    inside_map,
    rescale_matrix,
    to_map_coords,
    warp_affine,
)
from ...modules.hourglass import FAN, HeatmapHead, batchnorm_safe_checkpoint_kwargs, inference_path
from .configuration_subpixel_fan import SubpixelFANConfig


@dataclass
class SubpixelFANModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, hidden_size, heatmap_size, heatmap_size)`):
            features of the last stack, before its heatmap head.
        heatmaps (`tuple(torch.FloatTensor)`, one `(batch, num_landmarks, heatmap_size, heatmap_size)` per stack):
            raw heatmap regressions (no sigmoid).
    """

    last_hidden_state: torch.FloatTensor | None = None
    heatmaps: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class SubpixelFANLandmarkDetectionOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` or a transformed view is given):
            `supervised_loss + consistency_weight * consistency_loss`.
        heatmaps (`torch.FloatTensor` of shape `(batch, num_landmarks, heatmap_size, heatmap_size)`):
            last-stack heatmaps (averaged with the mirrored view under `flip_test`).
        landmarks (`torch.FloatTensor` of shape `(batch, num_landmarks, 2)`): decoded (x, y) in crop pixels.
        scores (`torch.FloatTensor` of shape `(batch, num_landmarks)`): heatmap value at each peak.
        all_heatmaps (`tuple(torch.FloatTensor)`): heatmaps of every stack (intermediate supervision); only with
            `output_all_heatmaps` (on by default in training and whenever a loss is computed).
        supervised_loss (`torch.FloatTensor` of shape `()`): masked heatmap MSE summed over stacks (and views).
        consistency_loss (`torch.FloatTensor` of shape `()`): Siamese transformation-consistency term.
    """

    loss: torch.FloatTensor | None = None
    heatmaps: torch.FloatTensor | None = None
    landmarks: torch.FloatTensor | None = None
    scores: torch.FloatTensor | None = None
    all_heatmaps: tuple[torch.FloatTensor, ...] | None = None
    supervised_loss: torch.FloatTensor | None = None
    consistency_loss: torch.FloatTensor | None = None


class SubpixelFANPreTrainedModel(PreTrainedModel):
    config: SubpixelFANConfig
    base_model_prefix = "fan"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True  # per-stack hourglasses (training only; inference path unchanged)

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None, **kwargs):
        """transformers' activation checkpointing of the hourglasses, except that the backward recomputation leaves
        the BatchNorm running statistics alone (otherwise every training batch would be counted twice)."""
        kwargs_ = batchnorm_safe_checkpoint_kwargs(self, activation_checkpointing_kwargs)
        super().activation_checkpointing_enable(kwargs_, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, HeatmapHead):  # start near zero: targets are unit-peak Gaussians on a zero background
            init.normal_(module.weight, std=1e-3)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


class SubpixelFANModel(SubpixelFANPreTrainedModel):
    """FAN stacked hourglass returning the last features and one heatmap tensor per stack."""

    def __init__(self, config: SubpixelFANConfig):
        super().__init__(config)
        self.network = FAN(
            num_landmarks=config.num_landmarks,
            num_stacks=config.num_stacks,
            hourglass_depth=config.hourglass_depth,
            hidden_size=config.hidden_size,
            stem_channels=config.stem_channels,
            norm_type=config.norm_type,
            num_groups=config.norm_num_groups,
        )
        self.post_init()

    @can_return_tuple
    def forward(self, pixel_values: torch.Tensor) -> SubpixelFANModelOutput:
        """`pixel_values` (batch, 3, image_size, image_size) float crops from the image processor.

        In eval mode without autograd the network takes its in-place inference path (see
        :mod:`hfvid.modules.hourglass`), in channels-last layout when `config.channels_last` (`last_hidden_state`
        then comes back channels-last: same values, use `.reshape` rather than `.view` on it), and on the CPU in
        chunks of `config.cpu_inference_chunk_size` crops.
        """
        expected = (3, self.config.image_size, self.config.image_size)
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(f"pixel_values must have shape (batch, {', '.join(map(str, expected))}), "
                             f"got {tuple(pixel_values.shape)}")
        inference = inference_path(self)
        channels_last = self.config.channels_last and inference
        if channels_last:  # oneDNN/cuDNN convolutions take it without layout reorders
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        chunk = self.config.cpu_inference_chunk_size
        if inference and chunk and pixel_values.device.type == "cpu" and len(pixel_values) > chunk:
            # per-crop results are independent at inference; small chunks keep the 4 MB-per-crop maps in cache
            parts = [self.network(part) for part in pixel_values.split(chunk)]
            features = torch.cat([part[0] for part in parts])
            heatmaps = tuple(torch.cat(stack) for stack in zip(*(part[1] for part in parts)))
        else:
            features, heatmaps = self.network(pixel_values)
        if channels_last:  # heatmaps are small (num_landmarks channels): hand them back in the default layout
            heatmaps = tuple(h.contiguous() for h in heatmaps)
        return SubpixelFANModelOutput(last_hidden_state=features, heatmaps=heatmaps)


class SubpixelFANForFacialLandmarkDetection(SubpixelFANPreTrainedModel):
    """SH-FAN: heatmaps -> sub-pixel landmarks, with the supervised and Siamese consistency losses."""

    def __init__(self, config: SubpixelFANConfig):
        super().__init__(config)
        self.fan = SubpixelFANModel(config)
        self.post_init()

    @property
    def stride(self) -> float:
        return self.config.image_size / self.config.heatmap_size

    def decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps -> (landmarks in crop pixels, scores) with the configured decoder, always in float32 or wider.

        Half-precision heatmaps (bfloat16/float16 inference) are decoded in float32: the soft-argmax offsets need
        more than bfloat16's 8 bits of mantissa to keep sub-pixel precision.
        """
        if heatmaps.dtype in (torch.float16, torch.bfloat16):
            heatmaps = heatmaps.float()
        points, scores = decode_heatmaps(
            heatmaps,
            method=self.config.decode_method,
            window=self.config.decode_window,
            temperature=self.config.decode_temperature,
            normalize_peak=self.config.decode_normalize_peak,
        )
        return from_map_coords(points, self.stride), scores

    def encode(self, landmarks: torch.Tensor) -> torch.Tensor:
        """Crop-pixel landmarks -> target heatmaps with the configured encoding."""
        points = to_map_coords(landmarks, self.stride)
        return encode_heatmaps(points, self.config.heatmap_size, self.config.heatmap_sigma, self.config.encoding)

    def _supervised_loss(self, stacks, landmarks, mask) -> torch.Tensor:
        """Per-pixel MSE of every stack against the encoded targets, averaged over the points in ``mask``."""
        hm = self.config.heatmap_size
        mask = mask & inside_map(to_map_coords(landmarks, self.stride), hm, hm)
        weight = mask.to(stacks[0].dtype)
        target = self.encode(landmarks).to(stacks[0].dtype)
        per_point = [((heatmaps - target) ** 2).mean(dim=(-1, -2)) for heatmaps in stacks]
        return sum((p * weight).sum() for p in per_point) / weight.sum().clamp_min(1.0)

    def _consistency_loss(self, stacks_1, stacks_2, transform) -> torch.Tensor:
        """|| warp_T(H1) - H2 ||^2 over pixels seen in both views (or the L1 distance of decoded coordinates)."""
        perm = self.config.flip_permutation
        mirrored = torch.linalg.det(transform[:, :, :2]) < 0
        if self.config.consistency_space == "coords":
            total = 0.0
            size = self.config.image_size
            for heatmaps_1, heatmaps_2 in zip(stacks_1, stacks_2):
                points_1 = apply_affine(transform, self.decode(heatmaps_1)[0])
                if perm is not None:
                    points_1 = torch.where(mirrored[:, None, None], points_1[:, perm], points_1)
                points_2 = self.decode(heatmaps_2)[0]
                valid = inside_map(points_1, size, size).to(points_1.dtype)
                distance = (points_1 - points_2).abs().sum(-1)
                total = total + (distance * valid).sum() / valid.sum().clamp_min(1.0)
            return total
        hm = self.config.heatmap_size
        transform_hm = rescale_matrix(transform, self.stride)
        ones = stacks_1[0].new_ones(stacks_1[0].shape[0], 1, hm, hm)
        valid = (warp_affine(ones, transform_hm, hm) > 0.999).to(ones.dtype)
        total = 0.0
        for heatmaps_1, heatmaps_2 in zip(stacks_1, stacks_2):
            warped = warp_affine(heatmaps_1, transform_hm, hm)
            if perm is not None:
                warped = torch.where(mirrored[:, None, None, None], warped[:, perm], warped)
            squared = (warped - heatmaps_2) ** 2 * valid
            total = total + squared.sum() / (valid.sum() * heatmaps_1.shape[1]).clamp_min(1.0)
        return total

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        landmark_mask: torch.Tensor | None = None,
        pixel_values_transformed: torch.Tensor | None = None,
        transform_matrix: torch.Tensor | None = None,
        flip_test: bool = False,
        output_all_heatmaps: bool | None = None,
    ) -> SubpixelFANLandmarkDetectionOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, 3, image_size, image_size)`): face crops.
            labels (`torch.FloatTensor` of shape `(batch, num_landmarks, 2)`, *optional*): landmarks in crop pixels
                (continuous, not rounded).
            landmark_mask (`torch.BoolTensor` of shape `(batch, num_landmarks)`, *optional*): points to supervise
                (occluded/missing points excluded). Points outside the crop are always excluded.
            pixel_values_transformed (`torch.FloatTensor`, *optional*): a second view of the same faces, for the
                Siamese consistency loss; needs `transform_matrix`. Works without `labels` (unlabelled faces).
            transform_matrix (`torch.FloatTensor` of shape `(batch, 2, 3)`, *optional*): crop-pixel affine from
                the first view to the second (a determinant < 0 means it contains a horizontal flip).
            flip_test (`bool`, *optional*, defaults to `False`): average the heatmaps with those of the mirrored
                crop (flipped back, channels permuted) before decoding.
            output_all_heatmaps (`bool`, *optional*): return every stack's heatmaps as `all_heatmaps`. Defaults to
                `True` in training mode or when a loss is computed, else `False` (inference returns only the last
                stack's `heatmaps`, so the intermediate stacks' maps are not kept alive by the output).

        Example:

        ```python
        >>> import torch, hfvid
        >>> from hfvid import SubpixelFANConfig, SubpixelFANForFacialLandmarkDetection
        >>> config = SubpixelFANConfig(num_stacks=1, hidden_size=32, hourglass_depth=2, image_size=64,
        ...                            heatmap_size=16, num_landmarks=5, landmark_scheme="custom")
        >>> model = SubpixelFANForFacialLandmarkDetection(config)
        >>> out = model(torch.rand(2, 3, 64, 64), labels=torch.rand(2, 5, 2) * 63)
        >>> out.landmarks.shape, out.loss.ndim
        (torch.Size([2, 5, 2]), 0)
        ```
        """
        batch = pixel_values.shape[0]
        has_second_view = pixel_values_transformed is not None
        if has_second_view and transform_matrix is None:
            raise ValueError("pixel_values_transformed needs transform_matrix (batch, 2, 3), the crop-pixel affine")
        if labels is not None and tuple(labels.shape) != (batch, self.config.num_landmarks, 2):
            raise ValueError(f"labels must have shape ({batch}, {self.config.num_landmarks}, 2), "
                             f"got {tuple(labels.shape)}")
        if flip_test and self.config.flip_permutation is None:
            raise ValueError("flip_test needs config.flip_permutation (the landmark mirror table)")

        if output_all_heatmaps is None:
            output_all_heatmaps = self.training or labels is not None or has_second_view

        inputs = [pixel_values]
        if has_second_view:
            inputs.append(pixel_values_transformed)
        if flip_test:
            inputs.append(pixel_values.flip(-1))
        stacks = self.fan(inputs[0] if len(inputs) == 1 else torch.cat(inputs), return_dict=True).heatmaps
        views = [tuple(s.split(batch)) for s in stacks]  # per stack: one chunk per view
        stacks_1 = tuple(v[0] for v in views)

        heatmaps = stacks_1[-1]
        if flip_test:
            heatmaps = 0.5 * (heatmaps + flip_heatmaps(views[-1][-1], self.config.flip_permutation))
        landmarks, scores = self.decode(heatmaps)

        loss = supervised = consistency = None
        if labels is not None:
            mask = torch.ones_like(labels[..., 0], dtype=torch.bool) if landmark_mask is None else landmark_mask.bool()
            supervised = self._supervised_loss(stacks_1, labels, mask)
            if has_second_view:
                labels_2 = apply_affine(transform_matrix.to(labels.dtype), labels)
                mask_2 = mask
                if self.config.flip_permutation is not None:
                    mirrored = (torch.linalg.det(transform_matrix[:, :, :2]) < 0)[:, None]
                    perm = self.config.flip_permutation
                    labels_2 = torch.where(mirrored[..., None], labels_2[:, perm], labels_2)
                    mask_2 = torch.where(mirrored, mask[:, perm], mask)
                supervised = supervised + self._supervised_loss(tuple(v[1] for v in views), labels_2, mask_2)
            loss = supervised
        if has_second_view:
            consistency = self._consistency_loss(stacks_1, tuple(v[1] for v in views), transform_matrix)
            weighted = self.config.consistency_weight * consistency
            loss = weighted if loss is None else loss + weighted

        return SubpixelFANLandmarkDetectionOutput(
            loss=loss,
            heatmaps=heatmaps,
            landmarks=landmarks,
            scores=scores,
            all_heatmaps=stacks_1 if output_all_heatmaps else None,
            supervised_loss=supervised,
            consistency_loss=consistency,
        )


__all__ = [
    "SubpixelFANForFacialLandmarkDetection",
    "SubpixelFANLandmarkDetectionOutput",
    "SubpixelFANModel",
    "SubpixelFANModelOutput",
    "SubpixelFANPreTrainedModel",
]
