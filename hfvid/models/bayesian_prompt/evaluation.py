"""Evaluation harness of the CoOp/BPL protocols: accuracy on a class list, base-to-new (base, new, H), cross-dataset."""

import numpy as np
import torch

from ...metrics.classification import classification_metrics, harmonic_mean
from .model import bayesian_prompt_classify, bpl_config, find_bayesian_prompt_layer
from .prompts import build_class_prompts


class BayesianPromptCollator:
    """Rows ``{"image", "label"}`` -> ``{"pixel_values", "labels"}`` with a (CLIP) image processor."""

    def __init__(self, image_processor):
        self.image_processor = image_processor

    def __call__(self, rows):
        images = [row["image"].convert("RGB") if hasattr(row["image"], "convert") else row["image"] for row in rows]
        pixel_values = self.image_processor(images=images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixel_values, "labels": torch.tensor([row["label"] for row in rows])}


@torch.no_grad()
def predict_scores(model, processor, dataset, class_names, batch_size: int = 32, **classify_kwargs):
    """Class probabilities (N, C) and labels (N,) of a table, with prompts built for ``class_names``."""
    layer = find_bayesian_prompt_layer(model)
    prompts = build_class_prompts(processor.tokenizer, class_names, bpl_config(layer))
    device = layer.bpl_ctx[layer.bpl_adapter].device
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=BayesianPromptCollator(
        processor.image_processor))
    was_training = model.training
    model.eval()
    scores, labels = [], []
    for batch in loader:
        out = bayesian_prompt_classify(model, batch["pixel_values"].to(device), prompts["input_ids"].to(device),
                                       prompts["attention_mask"].to(device), **classify_kwargs)
        scores.append(out.logits.exp().cpu())
        labels.append(batch["labels"])
    model.train(was_training)
    return torch.cat(scores).numpy(), torch.cat(labels).numpy()


def evaluate_accuracy(model, processor, dataset, class_names=None, **kwargs) -> dict:
    """``{"top1", "top5"}`` (%) of the adapter on ``dataset`` among ``class_names`` (default: its ClassLabel names)."""
    from ...data.few_shot import class_names_of

    scores, labels = predict_scores(model, processor, dataset, class_names or class_names_of(dataset), **kwargs)
    return classification_metrics(scores, labels)


def evaluate_base_to_new(model, processor, test_dataset, **kwargs) -> dict:
    """Base-to-new protocol: base-class images among base names, new-class images among new names, and H."""
    from ...data.few_shot import subsample_classes

    base = evaluate_accuracy(model, processor, subsample_classes(test_dataset, "base"), **kwargs)["top1"]
    new = evaluate_accuracy(model, processor, subsample_classes(test_dataset, "new"), **kwargs)["top1"]
    return {"acc_base": base, "acc_new": new, "harmonic_mean": harmonic_mean(base, new)}


def evaluate_cross_dataset(model, processor, targets: dict, **kwargs) -> dict:
    """Cross-dataset transfer: top-1 on each target table with its own class names, plus their mean."""
    results = {name: evaluate_accuracy(model, processor, table, **kwargs)["top1"] for name, table in targets.items()}
    results["average"] = float(np.mean(list(results.values())))
    return results


__all__ = [
    "BayesianPromptCollator",
    "evaluate_accuracy",
    "evaluate_base_to_new",
    "evaluate_cross_dataset",
    "predict_scores",
]
