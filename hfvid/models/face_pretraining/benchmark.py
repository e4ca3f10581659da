"""The FRL few-shot face benchmark: score any image backbone on five face tasks with seeded data fractions.

``run_benchmark(backbone, tasks, fractions, seeds, protocol)`` builds each task's data (built-in synthetic data, or
real files for the tasks that have readers), cuts the nested few-shot training subset of every (fraction, seed),
trains the task head (``protocol="linear"``: frozen backbone in eval mode, features computed once;
``"finetune"``: everything trains), evaluates with the task's metric in dataset units and writes one JSON per run,
one split manifest per run, ``results.json`` and ``results.md`` (mean +- std over seeds).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...modules.heatmaps import apply_affine, invert_affine
from .modeling_face_pretraining import ArcFaceHead, AUIntensityHead, ExpressionHead, Landmark3DHead, LandmarkHeatmapHead
from .splits import check_fraction, few_shot_indices, save_manifest, subject_disjoint_split

PROTOCOLS = ("finetune", "linear")


@dataclass(frozen=True)
class BenchmarkTask:
    name: str
    description: str
    metric: str  # headline metric key
    higher_is_better: bool
    split_by: str | None = None  # "class", "identity" or "subject": stratification / disjointness of the split


TASKS = {
    task.name: task
    for task in (
        BenchmarkTask("landmarks", "2D face alignment, 68 points (300W-style NME, inter-ocular)", "nme", False),
        BenchmarkTask("alignment_3d", "3D face alignment (AFLW2000-3D-style NME, 68-point bbox)", "nme", False),
        BenchmarkTask("au_intensity", "AU intensity (DISFA-style ICC(3,1); subject-disjoint)", "icc", True, "subject"),
        BenchmarkTask("expression", "Expression class + valence/arousal (AffectNet-style)", "accuracy", True, "class"),
        BenchmarkTask("recognition", "Face verification on unseen identities (ArcFace head)", "accuracy", True,
                      "identity"),
    )
}


def check_tasks(names) -> list[str]:
    """The task names, or ``ValueError`` listing the known ones."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [name for name in names if name not in TASKS]
    if unknown or not names:
        raise ValueError(f"unknown task(s) {unknown or names}; known tasks: {', '.join(TASKS)}")
    return names


# ------------------------------------------------------------------------------------------------ backbones
class Backbone(nn.Module):
    """Any image encoder as ``pixel_values -> (pooled (B, D), feature map (B, C, h, w) or None)``."""

    def __init__(self, model: nn.Module, image_size: int):
        super().__init__()
        self.model, self.image_size = model, image_size

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values)
        pooled = out.get("pooler_output") if hasattr(out, "get") else None
        if pooled is None:
            raise ValueError(f"backbone {type(self.model).__name__} returns no pooled output (pooler_output); the "
                             "benchmark needs a pooled image feature")
        feature_map = out.get("last_hidden_state")
        return pooled.flatten(1), feature_map if feature_map is not None and feature_map.ndim == 4 else None


def load_backbone(backbone, image_size: int | None = None) -> tuple[Backbone, object]:
    """(Backbone, image processor) from a path / hub id / model object; task-head checkpoints give their encoder."""
    from transformers import AutoImageProcessor, AutoModel

    from .image_processing_face_pretraining import FaceRepresentationImageProcessor

    processor = None
    if isinstance(backbone, (str, Path)):
        model = AutoModel.from_pretrained(str(backbone))
        try:
            processor = AutoImageProcessor.from_pretrained(str(backbone))
        except (OSError, ValueError):
            processor = None
    else:
        model = backbone
    model = getattr(model, "face_repr", model)
    size = image_size or getattr(processor, "image_size", None) or getattr(model.config, "image_size", None) or 224
    if not isinstance(processor, FaceRepresentationImageProcessor):
        processor = FaceRepresentationImageProcessor(image_size=size, margin=1.0)
    wrapped = Backbone(model.eval(), size)
    with torch.no_grad():
        wrapped(torch.zeros(1, 3, size, size))  # fails early for a backbone without pooled output
    return wrapped, processor


# ------------------------------------------------------------------------------------------------ data
def synthetic_task_data(task: str, image_size: int = 64, train_size: int = 64, test_size: int = 32,
                        seed: int = 1234) -> dict:
    """``{"train": records, "test": records}`` of built-in synthetic data (train/test are group-disjoint)."""
    from ...data import synthetic_face_tasks as tasks
    from ...data.synthetic import synthetic_faces

    if task == "landmarks":
        return {"train": synthetic_faces(train_size, image_size, seed), "test": synthetic_faces(test_size, image_size,
                                                                                                 seed + 1)}
    if task == "alignment_3d":
        return {"train": tasks.synthetic_3d_faces(train_size, image_size, seed),
                "test": tasks.synthetic_3d_faces(test_size, image_size, seed + 1)}
    if task == "expression":
        return {"train": tasks.synthetic_expression_faces(train_size, image_size, seed),
                "test": tasks.synthetic_expression_faces(test_size, image_size, seed + 1)}
    if task == "au_intensity":
        frames = 8
        subjects = max(2, math.ceil((train_size + test_size) / (2 * frames)))
        records = tasks.synthetic_au_videos(subjects, 2, frames, image_size, seed)
        train, test = subject_disjoint_split([r["subject"] for r in records], test_size / (train_size + test_size),
                                             seed)
        return {"train": [records[i] for i in train], "test": [records[i] for i in test]}
    if task == "recognition":
        per_identity = 4
        train_ids = max(2, train_size // per_identity)
        test = tasks.synthetic_identity_faces(max(2, test_size // per_identity), per_identity, image_size, seed + 1)
        return {"train": tasks.synthetic_identity_faces(train_ids, per_identity, image_size, seed), "test": test}
    check_tasks([task])
    raise AssertionError(task)


def real_task_data(task: str, data_root) -> dict:
    """Real data from ``data_root/{train,test}``: folders of images + iBUG ``.pts`` files for ``landmarks``."""
    if task != "landmarks":
        raise ValueError(f"real data for task {task!r} has no reader in hfvid yet; use --dataset synthetic "
                         "(landmarks reads data_root/train and data_root/test with .pts files)")
    from ...data.formats import load_pts_folder

    def records(folder):
        dataset = load_pts_folder(Path(data_root) / folder)
        return [{"image": np.asarray(row["image"].convert("RGB")), "landmarks": np.asarray(row["landmarks"], np.float32),
                 "box": np.asarray(row["box"], np.float32)} for row in dataset]

    return {"train": records("train"), "test": records("test")}


def _encode(records: list[dict], processor, use_boxes: bool) -> dict:
    """Processor crops (boxes only for real landmark data) -> pixel_values and the image -> crop maps."""
    images = [r["image"] for r in records]
    boxes = [[r["box"].tolist()] for r in records] if use_boxes else None
    batch = processor(images, boxes=boxes, return_tensors="pt")
    return {"pixel_values": batch["pixel_values"], "crop_matrices": batch["crop_matrices"]}


def _targets(task: str, records: list[dict], crop_matrices: torch.Tensor) -> dict[str, torch.Tensor]:
    """Head labels in crop units (landmarks mapped through the crop)."""
    if task == "landmarks":
        points = torch.as_tensor(np.stack([r["landmarks"] for r in records]))
        return {"labels": apply_affine(crop_matrices, points)}
    if task == "alignment_3d":
        points = torch.as_tensor(np.stack([r["landmarks_3d"] for r in records]))
        zoom = torch.linalg.det(crop_matrices[:, :, :2]).abs().sqrt()
        xy = apply_affine(crop_matrices, points[..., :2])
        return {"labels": torch.cat([xy, points[..., 2:] * zoom[:, None, None]], -1)}
    if task == "au_intensity":
        return {"labels": torch.as_tensor(np.stack([r["intensities"] for r in records]))}
    if task == "expression":
        return {"labels": torch.tensor([r["label"] for r in records]),
                "valence_arousal": torch.as_tensor(np.stack([r["valence_arousal"] for r in records]))}
    ids = sorted({r["identity"] for r in records})
    return {"labels": torch.tensor([ids.index(r["identity"]) for r in records])}


def _split_labels(task: str, records: list[dict]):
    if task == "expression":
        return [r["label"] for r in records]
    if task == "recognition":
        return [r["identity"] for r in records]
    return None


# ------------------------------------------------------------------------------------------------ heads
def build_head(task: str, backbone: Backbone, train_records: list[dict]) -> nn.Module:
    """The task head sized for this backbone (a dummy forward gives the feature shapes)."""
    size = backbone.image_size
    with torch.no_grad():
        pooled, feature_map = backbone(torch.zeros(1, 3, size, size))
    dim = pooled.shape[1]
    if task == "landmarks":
        if feature_map is None:
            raise ValueError("the landmarks task needs a backbone whose last_hidden_state is a (B, C, h, w) map")
        heatmap = size // 4
        num_deconv = max(0, round(math.log2(heatmap / feature_map.shape[-1])))
        return LandmarkHeatmapHead(feature_map.shape[1], train_records[0]["landmarks"].shape[0], size,
                                   feature_map.shape[-1] * 2**num_deconv, num_deconv, head_channels=64)
    if task == "alignment_3d":
        return Landmark3DHead(dim, train_records[0]["landmarks_3d"].shape[0], size)
    if task == "au_intensity":
        return AUIntensityHead(dim, len(train_records[0]["intensities"]))
    if task == "expression":
        return ExpressionHead(dim, 1 + max(r["label"] for r in train_records))
    return ArcFaceHead(dim, min(128, dim), len({r["identity"] for r in train_records}), scale=16.0, margin=0.2)


def _head_input(task, pooled, feature_map):
    return feature_map if task == "landmarks" else pooled


def _features(backbone: Backbone, pixels: torch.Tensor, batch_size: int = 64):
    with torch.no_grad():
        parts = [backbone(chunk) for chunk in pixels.split(batch_size)]
    maps = [p[1] for p in parts]
    return torch.cat([p[0] for p in parts]), (torch.cat(maps) if maps[0] is not None else None)


def train_head(task: str, backbone: Backbone, head: nn.Module, pixels, targets, protocol: str, steps: int,
               batch_size: int, learning_rate: float, seed: int) -> list[float]:
    """AdamW on the head (and, for ``finetune``, the backbone); returns the loss per step."""
    generator = torch.Generator().manual_seed(seed)
    finetune = protocol == "finetune"
    params = list(head.parameters()) + (list(backbone.parameters()) if finetune else [])
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    cached = None if finetune else _features(backbone, pixels)
    backbone.train(finetune)
    head.train()
    losses = []
    count = len(pixels)
    for _ in range(steps):
        index = torch.randperm(count, generator=generator)[: min(batch_size, count)]
        if finetune:
            pooled, feature_map = backbone(pixels[index])
        else:
            pooled, feature_map = cached[0][index], None if cached[1] is None else cached[1][index]
        loss = head(_head_input(task, pooled, feature_map), **{k: v[index] for k, v in targets.items()}).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    backbone.eval()
    head.eval()
    return losses


# ------------------------------------------------------------------------------------------------ evaluation
def evaluate_task(task: str, backbone: Backbone, head: nn.Module, records: list[dict], encoded: dict) -> dict:
    """The task's metrics on ``records`` with predictions mapped back to dataset units."""
    from ...metrics.classification import accuracy
    from ...metrics.landmarks import landmark_metrics
    from ...metrics.verification import tar_at_far, verification_accuracy
    from .metrics import regression_metrics

    pooled, feature_map = _features(backbone, encoded["pixel_values"])
    with torch.no_grad():
        out = head(_head_input(task, pooled, feature_map))
    matrices = encoded["crop_matrices"]
    if task == "landmarks":
        predictions = apply_affine(invert_affine(matrices), out.landmarks).numpy()
        metrics = landmark_metrics(predictions, np.stack([r["landmarks"] for r in records]))
        metrics.pop("per_image_nme")
        return metrics
    if task == "alignment_3d":
        predictions = apply_affine(invert_affine(matrices), out.landmarks_3d[..., :2]).numpy()
        references = np.stack([r["landmarks_3d"][:, :2] for r in records])
        metrics = landmark_metrics(predictions, references, normalization="box")  # bbox of the GT 68 points
        per_image, yaws = np.asarray(metrics.pop("per_image_nme")), np.abs([r["yaw"] for r in records])
        bins = {}
        for low, high in ((0, 30), (30, 60), (60, 90.01)):
            inside = (yaws >= low) & (yaws < high)
            if inside.any():
                bins[f"nme_yaw_{low}_{int(high)}"] = float(100 * per_image[inside].mean())
        metrics.update(bins)
        metrics["nme_yaw_mean"] = float(np.mean(list(bins.values())))
        return metrics
    if task == "au_intensity":
        from ...data.synthetic_face_tasks import AU_NAMES

        names = AU_NAMES if out.intensities.shape[1] == len(AU_NAMES) else None
        return regression_metrics(out.intensities.numpy(), np.stack([r["intensities"] for r in records]), names)
    if task == "expression":
        metrics = {"accuracy": accuracy(out.logits.argmax(-1).numpy(), [r["label"] for r in records])}
        va = regression_metrics(out.valence_arousal.numpy(), np.stack([r["valence_arousal"] for r in records]),
                                names=("valence", "arousal"))
        metrics.update({k: v for k, v in va.items() if k.endswith(("_valence", "_arousal"))})
        return metrics
    embeddings = out.embeddings.numpy()
    identities = np.array([r["identity"] for r in records])
    first, second = np.triu_indices(len(records), k=1)
    scores = (embeddings[first] * embeddings[second]).sum(-1)
    same = identities[first] == identities[second]
    metrics = tar_at_far(scores, same, far=(1e-2, 1e-3))  # all pairs
    # LFW-style accuracy on balanced pairs: every genuine pair and as many (seeded) impostor pairs, interleaved
    genuine, impostor = np.flatnonzero(same), np.flatnonzero(~same)
    impostor = np.random.default_rng(0).choice(impostor, min(len(genuine), len(impostor)), replace=False)
    order = np.random.default_rng(1).permutation(np.concatenate([genuine, impostor]))
    metrics.update(verification_accuracy(scores[order], same[order], num_folds=min(10, len(order))))
    return metrics


# ------------------------------------------------------------------------------------------------ harness
def run_benchmark(backbone, tasks, fractions=(1.0, 0.1, 0.01), seeds=(0, 1, 2), protocol: str = "linear",
                  output_dir="face-benchmark", dataset: str = "synthetic", data_root=None, steps: int = 100,
                  batch_size: int = 32, learning_rate: float = 1e-3, image_size: int | None = None,
                  train_size: int = 64, test_size: int = 32, split_mode: str = "images") -> dict:
    """Run every (task, fraction, seed); returns ``{"runs": [...], "table": markdown}`` and writes the files.

    ``backbone``: a path / hub id of any `AutoModel` checkpoint with a pooled output (an hfvid FRL encoder, a
    transformers ResNet/ViT, ...) or a model object. ``split_mode`` applies to video tasks (``"frames"`` or
    ``"stride"``); ``"images"`` samples frames uniformly too.
    """
    tasks = check_tasks(tasks)
    fractions = [check_fraction(f) for f in fractions]
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if dataset not in ("synthetic", "real"):
        raise ValueError(f"dataset must be 'synthetic' or 'real', got {dataset!r}")
    base, processor = load_backbone(backbone, image_size)
    output_dir = Path(output_dir)
    runs = []
    for task in tasks:
        data = (synthetic_task_data(task, base.image_size if image_size is None else image_size, train_size,
                                    test_size)
                if dataset == "synthetic" else real_task_data(task, data_root))
        use_boxes = dataset == "real"
        train_encoded, test_encoded = _encode(data["train"], processor, use_boxes), _encode(data["test"], processor,
                                                                                            use_boxes)
        train_targets = _targets(task, data["train"], train_encoded["crop_matrices"])
        for fraction in fractions:
            for seed in seeds:
                start = time.time()
                records = data["train"]
                mode = split_mode if task == "au_intensity" else "images"
                indices = few_shot_indices(
                    len(records), fraction, seed, stratify=_split_labels(task, records), mode=mode,
                    videos=[r.get("video") for r in records], frames=[r.get("frame") for r in records])
                torch.manual_seed(seed)
                model = copy.deepcopy(base)
                subset = [records[i] for i in indices]
                head = build_head(task, model, subset if task == "recognition" else records)
                targets = {k: v[indices] for k, v in train_targets.items()}
                if task == "recognition":  # identities of the subset, renumbered
                    targets = _targets(task, subset, None)
                losses = train_head(task, model, head, train_encoded["pixel_values"][indices], targets, protocol,
                                    steps, batch_size, learning_rate, seed)
                metrics = evaluate_task(task, model, head, data["test"], test_encoded)
                name = f"{task}_f{fraction:g}_s{seed}"
                split_path = save_manifest(output_dir / "splits" / f"{name}.json", task, fraction, seed, indices,
                                           mode=mode)
                run = {"task": task, "fraction": fraction, "seed": seed, "protocol": protocol,
                       "backbone": str(backbone) if isinstance(backbone, (str, Path)) else type(backbone).__name__,
                       "dataset": dataset, "num_train": len(indices), "num_test": len(data["test"]),
                       "metric": TASKS[task].metric, "metrics": metrics, "first_loss": losses[0] if losses else None,
                       "last_loss": losses[-1] if losses else None, "split_file": str(split_path),
                       "seconds": time.time() - start}
                (output_dir / "runs").mkdir(parents=True, exist_ok=True)
                (output_dir / "runs" / f"{name}.json").write_text(json.dumps(run, indent=2))
                runs.append(run)
    table = markdown_table(runs)
    (output_dir / "results.json").write_text(json.dumps(runs, indent=2))
    (output_dir / "results.md").write_text(table + "\n")
    return {"runs": runs, "table": table}


def aggregate(runs: list[dict]) -> list[dict]:
    """Mean and std over seeds of every numeric metric, per (task, protocol, fraction)."""
    groups: dict = {}
    for run in runs:
        groups.setdefault((run["task"], run["protocol"], run["fraction"]), []).append(run)
    rows = []
    for (task, protocol, fraction), members in groups.items():
        keys = [k for k, v in members[0]["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        stats = {k: (float(np.mean([m["metrics"][k] for m in members])),
                     float(np.std([m["metrics"][k] for m in members]))) for k in keys}
        rows.append({"task": task, "protocol": protocol, "fraction": fraction, "seeds": len(members),
                     "num_train": members[0]["num_train"], "metric": members[0]["metric"], "stats": stats})
    return rows


def markdown_table(runs: list[dict]) -> str:
    """One row per (task, protocol, fraction): headline metric and the task's other key metrics, mean +- std."""
    lines = ["| task | protocol | fraction | train items | seeds | headline metric | mean ± std | other metrics |",
             "|---|---|---|---|---|---|---|---|"]
    for row in aggregate(runs):
        mean, std = row["stats"][row["metric"]]
        others = ", ".join(f"{k} {m:.4g} ± {s:.2g}" for k, (m, s) in row["stats"].items()
                           if k != row["metric"] and "_AU" not in k and k != "threshold")
        arrow = "↑" if TASKS[row["task"]].higher_is_better else "↓"
        lines.append(f"| {row['task']} | {row['protocol']} | {row['fraction']:g} | {row['num_train']} | "
                     f"{row['seeds']} | {row['metric']} {arrow} | {mean:.4g} ± {std:.2g} | {others} |")
    return "\n".join(lines)


__all__ = [
    "PROTOCOLS",
    "TASKS",
    "Backbone",
    "BenchmarkTask",
    "aggregate",
    "build_head",
    "check_tasks",
    "evaluate_task",
    "load_backbone",
    "markdown_table",
    "real_task_data",
    "run_benchmark",
    "synthetic_task_data",
    "train_head",
]
