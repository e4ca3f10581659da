"""DETR's set prediction recipe applied to BMViT's prediction tokens: Hungarian matching and the matched losses.

Boxes are normalised `(cx, cy, w, h)` everywhere; IoU-type terms convert them to corners with torchvision's
`box_convert`. The assignment is scipy's `linear_sum_assignment` on a CPU cost matrix, one per clip.
"""

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_convert, generalized_box_iou, generalized_box_iou_loss, sigmoid_focal_loss

PERSON, NO_OBJECT = 0, 1  # columns of the 2-way actor logits


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    return box_convert(boxes, "cxcywh", "xyxy")


def xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    return box_convert(boxes, "xyxy", "cxcywh")


def matching_cost(logits, pred_boxes, action_logits, target_boxes, target_actions, class_cost=1.0, bbox_cost=5.0,
                  giou_cost=2.0, action_cost=0.0) -> torch.Tensor:
    """`(N, G)` cost of assigning each of the N predictions of one clip to each of its G people.

    `-class_cost * p(person) + bbox_cost * L1(cxcywh) - giou_cost * GIoU + action_cost * BCE(actions)` (the action
    term is the mean binary cross-entropy over classes).
    """
    cost = -class_cost * logits.softmax(-1)[:, PERSON, None]
    cost = cost + bbox_cost * torch.cdist(pred_boxes, target_boxes, p=1)
    cost = cost - giou_cost * generalized_box_iou(cxcywh_to_xyxy(pred_boxes), cxcywh_to_xyxy(target_boxes))
    if action_cost:
        targets = target_actions.to(action_logits.dtype)
        log_p, log_not_p = F.logsigmoid(action_logits), F.logsigmoid(-action_logits)
        bce = -(log_p @ targets.T + log_not_p @ (1 - targets).T) / targets.shape[-1]
        cost = cost + action_cost * bce
    return cost


class BMViTHungarianMatcher:
    """One-to-one assignment of prediction tokens to ground-truth people, minimising :func:`matching_cost`.

    Returns, per clip, `(prediction_indices, target_indices)` int64 tensors of length `min(N, G)`, sorted by
    prediction index. Clips without people give empty tensors.
    """

    def __init__(self, class_cost: float = 1.0, bbox_cost: float = 5.0, giou_cost: float = 2.0,
                 action_cost: float = 0.0):
        if class_cost == bbox_cost == giou_cost == action_cost == 0:
            raise ValueError("at least one matching cost must be non-zero")
        self.costs = dict(class_cost=class_cost, bbox_cost=bbox_cost, giou_cost=giou_cost, action_cost=action_cost)

    @torch.no_grad()
    def __call__(self, logits, pred_boxes, action_logits, targets) -> list[tuple[torch.Tensor, torch.Tensor]]:
        indices = []
        for b, target in enumerate(targets):
            if len(target["boxes"]) == 0:
                empty = torch.zeros(0, dtype=torch.int64)
                indices.append((empty, empty))
                continue
            cost = matching_cost(logits[b].float(), pred_boxes[b].float(), action_logits[b].float(),
                                 target["boxes"].float(), target["action_labels"], **self.costs)
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
            indices.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return indices


def _num_boxes(targets, device) -> torch.Tensor:
    """Ground-truth people in the global batch per process (summed over processes / world size), at least 1."""
    count = torch.tensor(float(sum(len(t["boxes"]) for t in targets)), device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(count)
        count = count / torch.distributed.get_world_size()
    return count.clamp(min=1.0)


def set_prediction_loss(logits, pred_boxes, action_logits, targets, indices, config) -> tuple[torch.Tensor, dict]:
    """Weighted sum of the actor, L1, GIoU and action losses given a matching; returns `(loss, loss_dict)`.

    - actor: cross-entropy over all N tokens (matched -> person, others -> no-object, weighted `eos_coefficient`),
      or a sigmoid focal loss on `logit_person - logit_no_object` (`use_focal_actor_loss`), summed / num_boxes;
    - box: L1 of cxcywh and `1 - GIoU`, on matched tokens only, summed / num_boxes;
    - action: binary cross-entropy (mean over classes) on matched tokens only, summed / num_boxes.
    Unmatched tokens therefore receive only the no-object (actor) loss.
    """
    device = logits.device
    batch_index = torch.cat([torch.full_like(src, b) for b, (src, _) in enumerate(indices)]).to(device)
    source_index = torch.cat([src for src, _ in indices]).to(device)
    num_boxes = _num_boxes(targets, device)

    target_classes = torch.full(logits.shape[:2], NO_OBJECT, dtype=torch.int64, device=device)
    target_classes[batch_index, source_index] = PERSON
    if config.use_focal_actor_loss:
        person_logit = logits[..., PERSON] - logits[..., NO_OBJECT]
        actor = sigmoid_focal_loss(person_logit, (target_classes == PERSON).to(person_logit.dtype),
                                   alpha=config.focal_alpha, gamma=config.focal_gamma, reduction="sum") / num_boxes
    else:
        weight = logits.new_tensor([1.0, config.eos_coefficient])
        actor = F.cross_entropy(logits.transpose(1, 2), target_classes, weight=weight)

    matched_boxes = pred_boxes[batch_index, source_index]
    target_boxes = torch.cat([t["boxes"][tgt] for t, (_, tgt) in zip(targets, indices)]).to(matched_boxes)
    target_actions = torch.cat([t["action_labels"][tgt] for t, (_, tgt) in zip(targets, indices)]).to(matched_boxes)
    l1 = F.l1_loss(matched_boxes, target_boxes, reduction="sum") / num_boxes
    giou = generalized_box_iou_loss(cxcywh_to_xyxy(matched_boxes), cxcywh_to_xyxy(target_boxes),
                                    reduction="sum") / num_boxes
    matched_actions = action_logits[batch_index, source_index]
    action = F.binary_cross_entropy_with_logits(matched_actions, target_actions, reduction="none").mean(-1).sum()
    action = action / num_boxes

    loss_dict = {"loss_actor": actor, "loss_bbox": l1, "loss_giou": giou, "loss_action": action}
    loss = (config.ce_loss_coefficient * actor + config.bbox_loss_coefficient * l1
            + config.giou_loss_coefficient * giou + config.action_loss_coefficient * action)
    return loss, loss_dict


__all__ = ["BMViTHungarianMatcher", "cxcywh_to_xyxy", "matching_cost", "set_prediction_loss", "xyxy_to_cxcywh"]
