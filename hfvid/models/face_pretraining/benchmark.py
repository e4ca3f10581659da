"""The FRL few-shot face benchmark: score any image backbone on five face tasks with seeded data fractions.

``run_benchmark(backbone, tasks, fractions, seeds, protocol)`` takes each task's records
(:mod:`hfvid.data.face_benchmark`: built-in synthetic data or the real datasets' files), cuts the nested few-shot
training subset of every (fraction, seed) (:mod:`hfvid.data.fraction_splits`), trains the task head with the shared
loop of :mod:`.head_training` (``protocol="linear"``: frozen backbone; ``"finetune"``: everything trains), evaluates
with the task's metric in dataset units and writes one JSON per run, one split manifest per run, ``results.json`` and
``results.md`` (mean +- std over seeds and folds). DISFA runs each of its 3 subject-independent folds, BP4D the
FERA2015 split (:mod:`hfvid.data.au_folds`). Runs on Accelerate's device; under ``accelerate launch`` training is
data-parallel, predictions are gathered, and the main process writes the files.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...data.face_benchmark import (FaceTaskDataset, check_tasks, real_task_data, resolve_sources, split_labels,
                                    synthetic_task_data)
from ...data.fraction_splits import check_fraction, few_shot_indices, save_manifest
from .head_training import HeadTrainingConfig, build_head, check_protocol, load_backbone, predict, train_head


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


# ------------------------------------------------------------------------------------------------ evaluation
def regression_metrics(predictions, references, names) -> dict[str, float]:
    """ICC(3,1), CCC, PCC, MAE, RMSE per output (``icc_<name>``) and averaged over outputs (``icc``), from
    :func:`hfvid.metrics.affect.affect_metrics` (NaN references, e.g. BP4D's uncoded frames, are skipped)."""
    from ...metrics.affect import affect_metrics

    results = affect_metrics(predictions, references, names=names)
    out = {key[: -len("_mean")]: value for key, value in results.items() if key.endswith("_mean")}
    out.update({key: value for key, value in results.items()
                if not key.endswith("_mean") and not key.startswith("num_frames_")})
    return out


def evaluate_task(task: str, predictions: dict[str, np.ndarray], records: list[dict], names=None,
                  verification: dict | None = None) -> dict:
    """The task's metrics of :func:`~.head_training.predict`'s output (dataset units, one row per record).

    ``names``: AU output names. ``verification`` (real recognition data): ``{"kind": "pairs", "first", "second",
    "same", "folds"}`` (LFW, 10-fold accuracy) or ``{"kind": "templates", "templates", "medias", "pairs",
    "labels"}`` (IJB 1:1, media/template pooling, TAR@FAR 1e-4/1e-5); without it every pair of test images is
    scored."""
    from ...metrics.classification import accuracy
    from ...metrics.landmarks import landmark_metrics
    from ...metrics.verification import tar_at_far, verification_accuracy

    if not np.array_equal(predictions["index"], np.arange(len(records))):
        raise ValueError(f"predictions must cover the {len(records)} test records in order")
    if task == "landmarks":
        metrics = landmark_metrics(predictions["landmarks"], np.stack([r["landmarks"] for r in records]))
        metrics.pop("per_image_nme")
        return metrics
    if task == "alignment_3d":
        references = np.stack([r["landmarks_3d"][:, :2] for r in records])
        metrics = landmark_metrics(predictions["landmarks"], references, normalization="box")  # bbox of GT points
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

        intensities = predictions["intensities"]
        if names is None and intensities.shape[1] == len(AU_NAMES):
            names = AU_NAMES
        return regression_metrics(intensities, np.stack([r["intensities"] for r in records]), names)
    if task == "expression":
        metrics = {"accuracy": accuracy(predictions["label"], [r["label"] for r in records])}
        va = regression_metrics(predictions["valence_arousal"], np.stack([r["valence_arousal"] for r in records]),
                                names=("valence", "arousal"))
        metrics.update({k: v for k, v in va.items() if k.endswith(("_valence", "_arousal"))})
        return metrics
    embeddings = predictions["embeddings"]
    if verification is not None:
        return _protocol_verification(embeddings, verification)
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


def _protocol_verification(embeddings: np.ndarray, verification: dict) -> dict:
    """Scores of the dataset's own pair list: LFW image pairs (accuracy over its folds) or IJB template pairs."""
    from ...metrics.verification import pair_scores, tar_at_far, template_features, verification_accuracy

    if verification["kind"] == "pairs":
        scores = pair_scores(embeddings[verification["first"]], embeddings[verification["second"]])
        same = np.asarray(verification["same"], bool)
        metrics = tar_at_far(scores, same, far=(1e-2, 1e-3))
        metrics.update(verification_accuracy(scores, same, num_folds=len(np.unique(verification["folds"]))))
        return metrics
    ids, features = template_features(embeddings, verification["templates"], verification["medias"])
    row = {t: i for i, t in enumerate(ids.tolist())}
    pairs = np.asarray(verification["pairs"])
    scores = pair_scores(features[[row[t] for t in pairs[:, 0]]], features[[row[t] for t in pairs[:, 1]]])
    labels = np.asarray(verification["labels"], bool)
    metrics = tar_at_far(scores, labels, far=(1e-4, 1e-5))
    metrics.update(verification_accuracy(scores, labels, num_folds=min(10, len(labels))))
    return metrics


# ------------------------------------------------------------------------------------------------ harness
def _task_folds(task: str, fmt: str, folds) -> list[int]:
    """The folds to run: DISFA's 3 subject-independent folds unless ``folds`` names some; one for the rest."""
    if task != "au_intensity" or fmt != "disfa":
        return [0]
    from ...data.au_folds import num_folds

    chosen = list(range(num_folds(fmt))) if folds is None else [int(k) for k in folds]
    if not chosen or any(k not in range(num_folds(fmt)) for k in chosen):
        raise ValueError(f"folds must be a non-empty list of DISFA folds 0-2, got {folds!r}")
    return chosen


def run_benchmark(backbone, tasks, fractions=(1.0, 0.1, 0.01), seeds=(0, 1, 2), protocol: str = "linear",
                  output_dir="face-benchmark", dataset_format="synthetic", data_dir=None,
                  training: HeadTrainingConfig | None = None, image_size: int | None = None, train_size: int = 64,
                  test_size: int = 32, split_mode: str = "images", folds=None, first_frame_index: int | None = None,
                  accelerator=None) -> dict:
    """Run every (task, fold, fraction, seed); returns ``{"runs": [...], "table": markdown}`` and writes the files.

    ``backbone``: a path / hub id of any `AutoModel` checkpoint with a pooled output (an hfvid FRL encoder, a
    transformers ResNet/ViT, ...) or a model object. ``dataset_format`` / ``data_dir``: one value for all tasks or
    ``{task: value}``; ``"synthetic"`` (default) is the built-in data, the real formats and the layout each expects
    are :data:`hfvid.data.face_benchmark.REAL_FORMATS`. ``training``: the head-training protocol
    (:class:`~.head_training.HeadTrainingConfig`, documented defaults). ``split_mode`` applies to video tasks
    (``"frames"`` or ``"stride"``); ``"images"`` samples frames uniformly too. ``folds``: DISFA test folds to run
    (default all 3). ``first_frame_index``: numbering of the AU datasets' frame files (default 1, see
    :mod:`hfvid.data.frame_folders`). ``accelerator``: an ``accelerate.Accelerator`` (default: a new one).
    """
    from accelerate import Accelerator

    tasks = check_tasks(tasks)
    fractions = [check_fraction(f) for f in fractions]
    check_protocol(protocol)
    sources = resolve_sources(tasks, dataset_format, data_dir)
    training = training or HeadTrainingConfig()
    accelerator = accelerator or Accelerator()
    base, processor = load_backbone(backbone, image_size)
    output_dir = Path(output_dir)
    runs = []
    for task in tasks:
        fmt, folder = sources[task]
        for fold in _task_folds(task, fmt, folds):
            if fmt == "synthetic":
                data = synthetic_task_data(task, base.image_size if image_size is None else image_size, train_size,
                                           test_size)
            else:
                data = real_task_data(task, fmt, folder, fold=fold, first_frame_index=first_frame_index)
            test_set = FaceTaskDataset(task, data["test"], processor)
            runs += [_run(task, fmt, folder, fold, data, test_set, base, processor, fraction, seed, protocol, training,
                          split_mode, accelerator, output_dir, backbone)
                     for fraction in fractions for seed in seeds]
    table = markdown_table(runs)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "results.json").write_text(json.dumps(runs, indent=2))
        (output_dir / "results.md").write_text(table + "\n")
    accelerator.wait_for_everyone()
    return {"runs": runs, "table": table}


def _run(task, fmt, folder, fold, data, test_set, base, processor, fraction, seed, protocol, training, split_mode,
         accelerator, output_dir, backbone) -> dict:
    """One (task, fold, fraction, seed): few-shot subset, head training, evaluation, run + split files."""
    start = time.time()
    records = data["train"]
    mode = split_mode if task == "au_intensity" else "images"
    indices = few_shot_indices(len(records), fraction, seed, stratify=split_labels(task, records), mode=mode,
                               videos=[r.get("video") for r in records], frames=[r.get("frame") for r in records])
    subset = [records[i] for i in indices]
    torch.manual_seed(seed)
    model = copy.deepcopy(base)
    head = build_head(task, model, subset if task == "recognition" else records)
    train_set = FaceTaskDataset(task, subset, processor, augmentation=training.augmentation())
    stats_set = FaceTaskDataset(task, subset, processor) if training.augment else None
    losses = train_head(task, model, head, train_set, protocol, training, accelerator, seed, stats_set)
    predictions = predict(task, model, head, test_set, accelerator, training)
    metrics = evaluate_task(task, predictions, data["test"], data.get("names"), data.get("verification"))
    folds_suffix = f"_fold{fold}" if task == "au_intensity" and fmt == "disfa" else ""
    name = f"{task}{folds_suffix}_f{fraction:g}_s{seed}"
    split_path = output_dir / "splits" / f"{name}.json"
    run = {"task": task, "fraction": fraction, "seed": seed, "protocol": protocol, "fold": fold,
           "backbone": str(backbone) if isinstance(backbone, (str, Path)) else type(backbone).__name__,
           "dataset": fmt, "data_dir": None if folder is None else str(folder),
           "split_protocol": data.get("protocol"), "num_train": len(indices), "num_test": len(data["test"]),
           "metric": TASKS[task].metric, "metrics": metrics, "first_loss": losses[0] if losses else None,
           "last_loss": losses[-1] if losses else None, "steps": len(losses), "training": training.to_dict(),
           "num_processes": accelerator.num_processes, "split_file": str(split_path), "seconds": time.time() - start}
    if accelerator.is_main_process:
        save_manifest(split_path, task, fraction, seed, indices, mode=mode, fold=fold)
        (output_dir / "runs").mkdir(parents=True, exist_ok=True)
        (output_dir / "runs" / f"{name}.json").write_text(json.dumps(run, indent=2))
    return run


def aggregate(runs: list[dict]) -> list[dict]:
    """Mean and std over seeds (and folds) of every numeric metric, per (task, protocol, fraction)."""
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
    "TASKS",
    "BenchmarkTask",
    "aggregate",
    "evaluate_task",
    "markdown_table",
    "regression_metrics",
    "run_benchmark",
]
