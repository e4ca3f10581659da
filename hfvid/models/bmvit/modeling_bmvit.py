"""BMViT: video transformer tokens -> token pooling -> MLP heads, trained with bipartite matching (no decoder).

Ntinou, Sanchez, Tzimiropoulos, "Multiscale Vision Transformers meet Bipartite Matching for efficient single-stage
Action Localization", CVPR 2024 (arXiv:2312.17686). Every pooled output token is one candidate person: a box, a
person/no-object score and multi-label action scores, matched one-to-one to the keyframe's people (DETR loss).

`BMViTConfig(localization="two_stage")` is the baseline the paper compares against, on the same backbone: RoIAlign of
the time-averaged last-stage features on given person boxes and a per-box multi-label action classifier.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.ops import MLP, roi_align
from transformers import AutoModel, PreTrainedModel
from transformers.utils import ModelOutput, can_return_tuple

from ..mvitv2.modeling_mvitv2 import MViTv2PreTrainedModel
from .configuration_bmvit import BMViTConfig
from .loss_bmvit import BMViTHungarianMatcher, cxcywh_to_xyxy, set_prediction_loss


@dataclass
class BMViTModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, T', H', W', hidden_size)`): final backbone tokens on
            their grid (CLS dropped).
        token_grid (`tuple[int, int, int]`): `(T', H', W')`.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): earlier backbone outputs on the same grid
            `(batch, T', H', W', hidden_size)`, last first, for the auxiliary losses.
    """

    last_hidden_state: torch.FloatTensor | None = None
    token_grid: tuple[int, int, int] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class BMViTActionLocalizationOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` are given): weighted actor + L1 + GIoU +
            action losses (plus the auxiliary ones); two stage: the BCE of the given boxes' actions.
        loss_dict (`dict[str, torch.FloatTensor]`, returned with `loss`): the unweighted terms.
        logits (`torch.FloatTensor` of shape `(batch, N, 2)`): person / no-object logits per prediction token. Two
            stage: N = the given boxes (padded), `softmax(logits)[..., 0]` = the given person score (0 for padding).
        pred_boxes (`torch.FloatTensor` of shape `(batch, N, 4)`): normalised `(cx, cy, w, h)` in (0, 1) (two stage:
            the given boxes).
        action_logits (`torch.FloatTensor` of shape `(batch, N, num_action_labels)`): multi-label action logits.
        auxiliary_outputs (`list[dict]`, *optional*): `logits` / `pred_boxes` / `action_logits` of earlier blocks.
        last_hidden_state (`torch.FloatTensor` of shape `(batch, T', H', W', hidden_size)`): backbone tokens.
        token_grid (`tuple[int, int, int]`): `(T', H', W')`.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): as in [`BMViTModelOutput`], when
            `output_hidden_states=True`.
    """

    loss: torch.FloatTensor | None = None
    loss_dict: dict | None = None
    logits: torch.FloatTensor | None = None
    pred_boxes: torch.FloatTensor | None = None
    action_logits: torch.FloatTensor | None = None
    auxiliary_outputs: list | None = None
    last_hidden_state: torch.FloatTensor | None = None
    token_grid: tuple[int, int, int] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


class BMViTPreTrainedModel(PreTrainedModel):
    config: BMViTConfig
    base_model_prefix = "bmvit"
    main_input_name = "pixel_values"
    input_modalities = ("video",)
    supports_gradient_checkpointing = True  # the backbone's blocks (MViTv2Block, VideoMAELayer) are checkpointed
    # weights saved at one input size load at another: the MViTv2 backbone's position tables are resized on load
    _load_pretrained_model = staticmethod(MViTv2PreTrainedModel._load_pretrained_model)
    # the heads get MViTv2's (torchvision's) initialisation: truncated-normal linears, unit LayerNorms; the backbone,
    # a PreTrainedModel of its own, is initialised by its own class
    _init_weights = MViTv2PreTrainedModel._init_weights


class BMViTModel(BMViTPreTrainedModel):
    """The video backbone returning its final tokens on their `(T', H', W')` grid (CLS dropped)."""

    def __init__(self, config: BMViTConfig):
        super().__init__(config)
        self.backbone = AutoModel.from_config(config.backbone_config)
        self.token_grid = tuple(config.token_grid)
        if config.auxiliary_loss:
            self._check_auxiliary_layers()
        self.post_init()

    def _check_auxiliary_layers(self) -> None:
        backbone = self.config.backbone_config
        if backbone.model_type != "hfvid-mvitv2":
            return  # plain ViTs keep one grid and width throughout
        last = len(backbone.num_heads) - 1
        for block in range(last - self.config.num_auxiliary_layers + 1, last + 1):
            if block < 1 or any(s > 1 for s in backbone.stride_q[block]) or (
                    backbone.output_channels[block - 1] != backbone.hidden_size):
                raise ValueError(
                    f"num_auxiliary_layers={self.config.num_auxiliary_layers}: the auxiliary block outputs must share "
                    "the final token grid and width (no query pooling and the same output_channels)"
                )

    @can_return_tuple
    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None) -> BMViTModelOutput:
        """`pixel_values` `(batch, num_frames, 3, height, width)` (the video processor's output);
        `output_hidden_states` (default: the config's) returns the earlier blocks on the final grid."""
        expected = (self.config.num_frames, 3, *self.config.image_size)
        if pixel_values.ndim != 5 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"pixel_values must have shape (batch, {', '.join(map(str, expected))}) = (batch, frames, channels, "
                f"height, width), got {tuple(pixel_values.shape)}; clips must have exactly num_frames="
                f"{self.config.num_frames} frames at image_size={self.config.image_size} (use BMViTVideoProcessor)"
            )
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        want_hidden = bool(output_hidden_states) or self.config.auxiliary_loss
        outputs = self.backbone(pixel_values, output_hidden_states=want_hidden, return_dict=True)
        has_cls = self.config.backbone_config.model_type == "hfvid-mvitv2"

        def grid(tokens):
            tokens = tokens[:, 1:] if has_cls else tokens
            return tokens.reshape(tokens.shape[0], *self.token_grid, tokens.shape[-1])

        hidden = None
        if want_hidden:
            count = self.config.num_auxiliary_layers if self.config.auxiliary_loss else len(outputs.hidden_states) - 1
            earlier = outputs.hidden_states[-1 - count:-1][::-1]  # the blocks before the last, last first
            hidden = tuple(grid(h) for h in earlier if h.shape[1] == outputs.last_hidden_state.shape[1]
                           and h.shape[-1] == outputs.last_hidden_state.shape[-1])
        return BMViTModelOutput(last_hidden_state=grid(outputs.last_hidden_state), token_grid=self.token_grid,
                                hidden_states=hidden)


def pool_tokens(grid: torch.Tensor, token_pooling: str, keyframe_index: int | None = None) -> torch.Tensor:
    """`(batch, T', H', W', D)` tokens -> `(batch, N, D)` prediction tokens (see `BMViTConfig.token_pooling`)."""
    if token_pooling == "temporal_mean":
        pooled = grid.mean(dim=1)
    elif token_pooling == "temporal_max":
        pooled = grid.amax(dim=1)
    elif token_pooling == "keyframe":
        pooled = grid[:, grid.shape[1] // 2 if keyframe_index is None else keyframe_index]
    elif token_pooling == "none":
        return grid.flatten(1, 3)
    else:
        raise ValueError(f"unknown token_pooling {token_pooling!r}")
    return pooled.flatten(1, 2)


def grid_reference_points(token_grid, num_predictions: int, device=None) -> torch.Tensor:
    """`(N, 2)` normalised `(cx, cy)` centres of the prediction tokens' cells (raster order, repeated over time)."""
    _, height, width = token_grid
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    centres = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    return centres.repeat(num_predictions // len(centres), 1)


class BMViTHeads(nn.Module):
    """LayerNorm, then the box MLP (D -> H -> H -> 4), the actor linear (D -> 2) and the action linear (D -> C)."""

    def __init__(self, config: BMViTConfig):
        super().__init__()
        hidden, width = config.hidden_size, config.head_hidden_size or config.hidden_size
        self.norm = nn.LayerNorm(hidden)
        self.box_head = MLP(hidden, [width, width, 4], activation_layer=nn.ReLU, inplace=None)
        self.actor_head = nn.Linear(hidden, 2)
        self.action_head = nn.Linear(hidden, config.num_action_labels)

    def forward(self, tokens: torch.Tensor, reference: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        tokens = self.norm(tokens)
        raw = self.box_head(tokens)
        if reference is not None:  # Deformable-DETR style: centre offset added in logit space
            raw = torch.cat([raw[..., :2] + torch.logit(reference, eps=1e-5), raw[..., 2:]], dim=-1)
        return {"logits": self.actor_head(tokens), "pred_boxes": raw.sigmoid(),
                "action_logits": self.action_head(tokens)}


class BMViTRoIHead(nn.Module):
    """Two-stage head: time-averaged `(B, T', H', W', D)` tokens, RoIAlign per given box, spatial max, LayerNorm and a
    linear action classifier (PySlowFast's AVA head: RoIAlign on the temporally pooled last stage, max pool)."""

    def __init__(self, config: BMViTConfig):
        super().__init__()
        self.output_size = config.roi_output_size
        self.norm = nn.LayerNorm(config.hidden_size)
        self.action_head = nn.Linear(config.hidden_size, config.num_action_labels)

    def forward(self, grid: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """`grid` `(B, T', H', W', D)`, `boxes` `(B, K, 4)` normalised cxcywh -> action logits `(B, K, C)`."""
        feature_map = grid.mean(dim=1).permute(0, 3, 1, 2)  # (B, D, H', W')
        height, width = feature_map.shape[-2:]
        scale = boxes.new_tensor([width, height, width, height])
        rois = list((cxcywh_to_xyxy(boxes) * scale).to(feature_map.dtype).unbind(0))
        pooled = roi_align(feature_map, rois, self.output_size, spatial_scale=1.0, sampling_ratio=0, aligned=True)
        pooled = pooled.amax(dim=(-2, -1)).reshape(*boxes.shape[:2], -1)
        return self.action_head(self.norm(pooled))


class BMViTForActionLocalization(BMViTPreTrainedModel):
    """BMViT: backbone + token pooling + heads; Hungarian-matched set loss when `labels` are given. With
    `config.localization="two_stage"`: the same backbone + [`BMViTRoIHead`] on given person boxes, BCE loss."""

    def __init__(self, config: BMViTConfig):
        super().__init__(config)
        self.bmvit = BMViTModel(config)
        if config.localization == "two_stage":
            self.roi_head = BMViTRoIHead(config)
        else:
            self.heads = BMViTHeads(config)
            self.matcher = BMViTHungarianMatcher(config.class_cost, config.bbox_cost, config.giou_cost,
                                                 config.action_cost)
        self.post_init()

    def _given_boxes(self, person_boxes, person_scores, targets, batch: int, device):
        """Two stage: the RoIs `(B, K, 4)` cxcywh and their person scores `(B, K)`: `person_boxes` when given, else
        the labels' boxes padded to the longest clip (padding = whole-frame boxes with score 0)."""
        if person_boxes is None:
            if targets is None:
                raise ValueError("person_boxes: a two-stage model (config.localization='two_stage') needs the person "
                                 "boxes to classify, (batch, K, 4) normalised cx, cy, w, h (a detector's, e.g. from "
                                 "BMViTVideoProcessor(person_boxes=...)), or labels to train on their boxes")
            count = max([len(t["boxes"]) for t in targets] + [1])
            boxes = torch.tensor([0.5, 0.5, 1.0, 1.0], device=device).repeat(batch, count, 1)
            scores = torch.zeros(batch, count, device=device)
            for i, target in enumerate(targets):
                boxes[i, : len(target["boxes"])] = target["boxes"]
                scores[i, : len(target["boxes"])] = 1.0
            return boxes, scores
        boxes = torch.as_tensor(person_boxes, dtype=torch.float32, device=device)
        if boxes.ndim != 3 or boxes.shape[0] != batch or boxes.shape[-1] != 4:
            raise ValueError(f"person_boxes must have shape ({batch}, K, 4) (normalised cx, cy, w, h per clip), got "
                             f"{tuple(boxes.shape)}")
        if person_scores is None:
            return boxes, boxes.new_ones(boxes.shape[:2])
        scores = torch.as_tensor(person_scores, dtype=torch.float32, device=device)
        if tuple(scores.shape) != tuple(boxes.shape[:2]):
            raise ValueError(f"person_scores must have shape {tuple(boxes.shape[:2])} (one per person box), got "
                             f"{tuple(scores.shape)}")
        return boxes, scores

    def _two_stage(self, grid, person_boxes, person_scores, targets) -> tuple[dict, torch.Tensor | None, dict | None]:
        """Given boxes -> (prediction dict, BCE loss over the labelled rows, loss dict)."""
        boxes, scores = self._given_boxes(person_boxes, person_scores, targets, grid.shape[0], grid.device)
        action_logits = self.roi_head(grid, boxes)
        person = torch.logit(scores.clamp(0.0, 1.0), eps=1e-6)
        prediction = {"logits": torch.stack([person, torch.zeros_like(person)], dim=-1), "pred_boxes": boxes,
                      "action_logits": action_logits}
        if targets is None:
            return prediction, None, None
        rows, wanted = [], []
        for i, target in enumerate(targets):
            if len(target["action_labels"]) > boxes.shape[1]:
                raise ValueError(f"labels[{i}] has {len(target['action_labels'])} people but person_boxes[{i}] only "
                                 f"{boxes.shape[1]} boxes (row j of action_labels is the target of box j)")
            rows.append(action_logits[i, : len(target["action_labels"])])
            wanted.append(target["action_labels"])
        rows, wanted = torch.cat(rows), torch.cat(wanted)
        loss = (nn.functional.binary_cross_entropy_with_logits(rows, wanted) if len(rows)
                else action_logits.sum() * 0.0)  # no person in the batch: a zero loss that keeps the graph
        return prediction, loss * self.config.action_loss_coefficient, {"loss_action": loss}

    def _predict(self, grid: torch.Tensor) -> dict[str, torch.Tensor]:
        tokens = pool_tokens(grid, self.config.token_pooling, self.config.keyframe_index)
        reference = None
        if self.config.box_reference == "grid":
            reference = grid_reference_points(self.bmvit.token_grid, tokens.shape[1], tokens.device).to(tokens.dtype)
        return self.heads(tokens, reference)

    def _targets(self, labels, batch: int, device) -> list[dict]:
        """`labels` as float tensors `boxes (G, 4)` / `action_labels (G, C)`, checking their structure and shapes
        only (no data-dependent branch: box values are checked by [`validate_labels`] and the video processor)."""
        if not isinstance(labels, (list, tuple)) or len(labels) != batch:
            raise ValueError(f"labels must be a list of {batch} dicts (one per clip), got {type(labels).__name__}")
        checked = []
        for i, target in enumerate(labels):
            if not isinstance(target, dict) or "boxes" not in target or "action_labels" not in target:
                raise ValueError(f"labels[{i}] must be a dict with 'boxes' (G, 4) and 'action_labels' (G, C)")
            boxes = torch.as_tensor(target["boxes"], dtype=torch.float32, device=device).reshape(-1, 4)
            actions = torch.as_tensor(target["action_labels"], dtype=torch.float32, device=device)
            actions = actions.reshape(len(boxes), -1) if actions.numel() or len(boxes) else actions.reshape(0, -1)
            if actions.shape != (len(boxes), self.config.num_action_labels):
                raise ValueError(f"labels[{i}]['action_labels'] must have shape ({len(boxes)}, "
                                 f"{self.config.num_action_labels}), got {tuple(actions.shape)}")
            checked.append({"boxes": boxes, "action_labels": actions})
        return checked

    def validate_labels(self, labels, batch_size: int) -> None:
        """Raise a `ValueError` naming the clip if `labels` (as `forward` takes them) are malformed or hold boxes
        that are not normalised `(cx, cy, w, h)` in [0, 1] with `w, h > 0`. The explicit check for labels built by
        hand; `BMViTVideoProcessor` checks the annotations it converts, and `forward` leaves the box values
        unchecked so it has no data-dependent branch."""
        for i, target in enumerate(self._targets(labels, batch_size, "cpu")):
            boxes = target["boxes"]
            if len(boxes) and (boxes.min() < 0 or boxes.max() > 1 or (boxes[:, 2:] <= 0).any()):
                raise ValueError(f"labels[{i}]['boxes'] must be normalised (cx, cy, w, h) in [0, 1] with w, h > 0, "
                                 f"got {boxes.tolist()}")

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: list[dict] | None = None,
        output_hidden_states: bool | None = None,
        person_boxes: torch.Tensor | None = None,
        person_scores: torch.Tensor | None = None,
    ) -> BMViTActionLocalizationOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, num_frames, 3, height, width)`): normalised clips
                centred on their keyframes.
            labels (`list[dict]`, *optional*): per clip `{"boxes": (G, 4) normalised cx, cy, w, h,
                "action_labels": (G, num_action_labels) multi-hot}` of the keyframe's people (G may be 0); box
                values are not checked here (see [`validate_labels`]).
            output_hidden_states (`bool`, *optional*): also return the earlier backbone blocks on the final grid.
            person_boxes (`torch.FloatTensor` of shape `(batch, K, 4)`, *optional*): two stage only: the boxes to
                classify, normalised `(cx, cy, w, h)` as the labels (`BMViTVideoProcessor(person_boxes=...)` converts
                AVA `x1, y1, x2, y2` boxes and pads); default: the labels' boxes. With labels, row j of
                `labels[i]["action_labels"]` is the target of `person_boxes[i, j]`.
            person_scores (`torch.FloatTensor` of shape `(batch, K)`, *optional*): two stage: the detector's person
                score of each box (default 1; 0 marks padding), returned as the person probability.

        Example:

        ```python
        >>> import torch, hfvid
        >>> from hfvid import BMViTConfig, BMViTForActionLocalization
        >>> config = BMViTConfig(num_action_labels=4, backbone_config={"image_size": [32, 32], "num_frames": 4,
        ...     "embed_dim": 16, "num_heads": [1, 2], "output_channels": [16, 32],
        ...     "stride_q": [[1, 1, 1], [1, 2, 2]], "stride_kv": [[1, 4, 4], [1, 2, 2]]})
        >>> model = BMViTForActionLocalization(config)
        >>> labels = [{"boxes": torch.tensor([[0.5, 0.5, 0.2, 0.3]]), "action_labels": torch.tensor([[1., 0, 0, 1]])}]
        >>> out = model(torch.randn(1, 4, 3, 32, 32), labels=labels)
        >>> out.pred_boxes.shape, out.loss.ndim
        (torch.Size([1, 16, 4]), 0)
        ```
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        outputs = self.bmvit(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        if self.config.localization == "two_stage":
            targets = None if labels is None else self._targets(labels, pixel_values.shape[0], pixel_values.device)
            prediction, loss, loss_dict = self._two_stage(outputs.last_hidden_state, person_boxes, person_scores,
                                                          targets)
            return BMViTActionLocalizationOutput(
                loss=loss, loss_dict=loss_dict, last_hidden_state=outputs.last_hidden_state,
                token_grid=outputs.token_grid, hidden_states=outputs.hidden_states if output_hidden_states else None,
                **prediction,
            )
        if person_boxes is not None or person_scores is not None:
            raise ValueError("person_boxes/person_scores are inputs of the two-stage baseline "
                             "(config.localization='two_stage'); the single-stage model finds the people itself")
        prediction = self._predict(outputs.last_hidden_state)
        auxiliary = None
        if self.config.auxiliary_loss:
            auxiliary = [self._predict(grid) for grid in outputs.hidden_states[: self.config.num_auxiliary_layers]]

        loss = loss_dict = None
        if labels is not None:
            targets = self._targets(labels, pixel_values.shape[0], pixel_values.device)
            loss, loss_dict = self.compute_loss(prediction, targets)
            for k, aux in enumerate(auxiliary or []):
                aux_loss, aux_dict = self.compute_loss(aux, targets)
                loss = loss + aux_loss
                loss_dict.update({f"{name}_aux{k}": value for name, value in aux_dict.items()})

        return BMViTActionLocalizationOutput(
            loss=loss, loss_dict=loss_dict, auxiliary_outputs=auxiliary,
            last_hidden_state=outputs.last_hidden_state, token_grid=outputs.token_grid,
            hidden_states=outputs.hidden_states if output_hidden_states else None, **prediction,
        )

    def compute_loss(self, prediction: dict, targets: list[dict]) -> tuple[torch.Tensor, dict]:
        """Match `prediction` (`logits`, `pred_boxes`, `action_logits`) to `targets`, then the set loss."""
        indices = self.matcher(prediction["logits"], prediction["pred_boxes"], prediction["action_logits"], targets)
        return set_prediction_loss(prediction["logits"], prediction["pred_boxes"], prediction["action_logits"],
                                   targets, indices, self.config)


__all__ = [
    "BMViTActionLocalizationOutput",
    "BMViTForActionLocalization",
    "BMViTHeads",
    "BMViTModel",
    "BMViTModelOutput",
    "BMViTPreTrainedModel",
    "BMViTRoIHead",
    "grid_reference_points",
    "pool_tokens",
]
