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
# AdamW learning rates: a linear probe on standardised frozen features needs a larger step than fine-tuning
DEFAULT_LEARNING_RATES = {"finetune": 1e-3, "linear": 1e-2}


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


# Real-data readers per task: format -> expected layout under its --data_dir (see `real_task_data`).
REAL_FORMATS = {
    "landmarks": {"300w": "train/ and test/ folders of images + iBUG .pts files",
                  "wflw": "list_98pt_rect_attr_{train,test}.txt (searched recursively) + images under WFLW_images/",
                  "cofw": "COFW_train_color.mat and COFW_test_color.mat"},
    "alignment_3d": {"aflw2000": "train/ (300W-LP or AFLW2000-style .mat + .jpg) and test/ (AFLW2000-3D)"},
    "au_intensity": {"disfa": "ActionUnit_Labels/SNxxx/SNxxx_auY.txt + frames/<video_id>/<frame:05d>.jpg "
                              "(0-based frames); test = DISFA fold 1 subjects",
                     "bp4d": "AUxx/<subject>_<task>_AUxx.csv + frames/<video_id>/<frame:05d>.jpg; "
                             "test = a seeded third of the subjects"},
    "expression": {"affectnet": "training.csv, validation.csv (test) + images under Manually_Annotated_Images/"},
    "recognition": {"lfw": "train/<identity>/*.jpg (e.g. a VGGFace2 subset) + pairs.txt and lfw/<name>/ (test)",
                    "ijbb": "train/<identity>/*.jpg + meta/ijbb_*.txt and loose_crop/ (test, 1:1 templates)",
                    "ijbc": "train/<identity>/*.jpg + meta/ijbc_*.txt and loose_crop/ (test, 1:1 templates)"},
}


def resolve_sources(tasks, dataset_format="synthetic", data_dir=None) -> dict[str, tuple[str, Path | None]]:
    """``{task: (format, data_dir)}``. ``dataset_format`` / ``data_dir``: one value for every task or a
    ``{task: value}`` dict; tasks without a format use the built-in synthetic data."""
    for mapping in (dataset_format, data_dir):
        if isinstance(mapping, dict) and mapping:
            check_tasks(list(mapping))
    formats = dataset_format if isinstance(dataset_format, dict) else {t: dataset_format for t in tasks}
    dirs = data_dir if isinstance(data_dir, dict) else {t: data_dir for t in tasks}
    sources = {}
    for task in tasks:
        fmt = formats.get(task) or "synthetic"
        known = ("synthetic", *REAL_FORMATS[task])
        if fmt not in known:
            raise ValueError(f"unknown dataset format {fmt!r} for task {task}; known formats: {', '.join(known)}")
        folder = dirs.get(task)
        if fmt != "synthetic" and not folder:
            raise ValueError(f"dataset format {fmt!r} of task {task} needs a data_dir ({REAL_FORMATS[task][fmt]})")
        sources[task] = (fmt, None if folder is None else Path(folder))
    return sources


def _image(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _find(root: Path, name: str) -> Path:
    matches = sorted(root.rglob(name))
    if not matches:
        raise ValueError(f"{root}: expected a file {name} (searched recursively)")
    return matches[0]


def _au_records(fmt: str, root: Path) -> dict:
    from ...data.formats.affect_labels import group_sequences
    from ...data.formats.bp4d import FERA2015_AUS, load_bp4d_labels
    from ...data.formats.disfa import DISFA_AU_NAMES, DISFA_FOLDS, load_disfa_labels

    labels = load_disfa_labels(root) if fmt == "disfa" else load_bp4d_labels(root)
    names = DISFA_AU_NAMES if fmt == "disfa" else [f"AU{au:02d}" for au in FERA2015_AUS]
    subjects = dict(zip(labels["video_id"], labels["subject_id"]))
    records = []
    for video, sequence in group_sequences(labels).items():
        for frame, values in zip(sequence["frames"], sequence["labels"]):
            path = root / "frames" / video / f"{int(frame):05d}.jpg"
            if not path.is_file():
                raise ValueError(f"{path}: missing frame image (expected frames/<video_id>/<frame:05d>.jpg, 0-based "
                                 "frame numbers, extracted from the videos)")
            records.append({"image": _image(path), "intensities": np.asarray(values, np.float32),
                            "subject": subjects[video], "video": video, "frame": int(frame)})
    groups = [r["subject"] for r in records]
    if fmt == "disfa":
        test_subjects = set(DISFA_FOLDS[0])
        test = [i for i, g in enumerate(groups) if g in test_subjects]
        train = [i for i, g in enumerate(groups) if g not in test_subjects]
        if not test or not train:
            raise ValueError(f"{root}: DISFA fold 1 {DISFA_FOLDS[0]} must hold some but not all subjects")
    else:
        train, test = subject_disjoint_split(groups, 1 / 3, seed=0)
    return {"train": [records[i] for i in train], "test": [records[i] for i in test], "names": names}


def _recognition_train(root: Path) -> list[dict]:
    from ...data.formats.lfw import read_identity_folders

    records = read_identity_folders(root / "train")
    return [{"image": _image(r["image_path"]), "identity": r["identity"], "box": r["box"]} for r in records]


def real_task_data(task: str, fmt: str, data_dir) -> dict:
    """``{"train": records, "test": records}`` (plus ``"names"`` for AU outputs and ``"verification"`` for the
    pair protocols) read from ``data_dir`` in the layout of :data:`REAL_FORMATS` ``[task][fmt]``."""
    from ...data import formats

    root = Path(data_dir)
    if fmt not in REAL_FORMATS.get(task, {}):
        raise ValueError(f"unknown dataset format {fmt!r} for task {task}; known: {', '.join(REAL_FORMATS[task])}")
    if not root.is_dir():
        raise ValueError(f"data_dir {root} of task {task} is not a folder ({REAL_FORMATS[task][fmt]})")
    if fmt == "300w":
        def split(folder):
            return [{"image": np.asarray(row["image"].convert("RGB")),
                     "landmarks": np.asarray(row["landmarks"], np.float32), "box": np.asarray(row["box"], np.float32)}
                    for row in formats.load_pts_folder(root / folder)]

        return {"train": split("train"), "test": split("test")}
    if fmt == "wflw":
        images = root / "WFLW_images" if (root / "WFLW_images").is_dir() else root

        def split(name):
            dataset = formats.read_wflw_annotations(_find(root, f"list_98pt_rect_attr_{name}.txt"), images)
            return [{"image": np.asarray(row["image"].convert("RGB")),
                     "landmarks": np.asarray(row["landmarks"], np.float32), "box": np.asarray(row["box"], np.float32)}
                    for row in dataset]

        return {"train": split("train"), "test": split("test")}
    if fmt == "cofw":
        from ...data.formats.cofw import load_cofw

        return load_cofw(root)
    if fmt == "aflw2000":
        from ...data.formats.aflw2000 import load_aflw2000_folder

        def split(folder):
            return [dict(r, image=_image(r["image_path"])) for r in load_aflw2000_folder(root / folder)]

        return {"train": split("train"), "test": split("test")}
    if fmt in ("disfa", "bp4d"):
        return _au_records(fmt, root)
    if fmt == "affectnet":
        from ...data.formats.affectnet import read_affectnet_csv

        images = root / "Manually_Annotated_Images" if (root / "Manually_Annotated_Images").is_dir() else root
        train = read_affectnet_csv(root / "training.csv", images, drop_invalid_valence_arousal=True)
        test = read_affectnet_csv(root / "validation.csv", images)
        return {split: [dict(r, image=_image(r["image_path"])) for r in rows]
                for split, rows in (("train", train), ("test", test))}
    if fmt == "lfw":
        from ...data.formats.lfw import read_lfw_pairs

        pairs = read_lfw_pairs(root / "pairs.txt", root / "lfw")
        paths = sorted({p[key] for p in pairs for key in ("first", "second")})
        index = {path: i for i, path in enumerate(paths)}
        test = [{"image": _image(path), "identity": Path(path).parent.name} for path in paths]
        verification = {"kind": "pairs", "first": np.array([index[p["first"]] for p in pairs]),
                        "second": np.array([index[p["second"]] for p in pairs]),
                        "same": np.array([p["same"] for p in pairs]), "folds": np.array([p["fold"] for p in pairs])}
        return {"train": _recognition_train(root), "test": test, "verification": verification}
    from ...data.formats.ijb import read_ijb_protocol

    protocol = read_ijb_protocol(root, fmt)
    test = [{"image": _image(path), "identity": int(t)} for path, t in zip(protocol["images"], protocol["templates"])]
    verification = {"kind": "templates", **{k: protocol[k] for k in ("templates", "medias", "pairs", "labels")}}
    return {"train": _recognition_train(root), "test": test, "verification": verification}


def _encode(records: list[dict], processor) -> dict:
    """Processor face crops (from each record's ``box`` when every record has one, else the whole image) ->
    pixel_values and the image -> crop maps."""
    images = [r["image"] for r in records]
    use_boxes = all(r.get("box") is not None for r in records)
    boxes = [[np.asarray(r["box"], np.float32).tolist()] for r in records] if use_boxes else None
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
class StandardizedHead(nn.Module):
    """``head((features - mean) / std)`` with per-channel statistics of the frozen training features.

    The linear protocol fits them once on the training subset (like the affine-free BatchNorm in front of common
    linear probes): features of an untrained or self-supervised backbone have arbitrary per-channel scales, which a
    few hundred AdamW steps on the raw values cannot undo. Identity until :meth:`fit` (the finetune protocol)."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> None:
        dims = [d for d in range(features.ndim) if d != 1]  # (N, D) or (N, C, h, w): statistics per channel
        self.mean = features.mean(dims, keepdim=True)[0]
        self.std = features.std(dims, keepdim=True)[0].clamp_min(1e-6) if len(features) > 1 else torch.ones_like(
            self.mean)

    def forward(self, features, **labels):
        return self.head((features - self.mean) / self.std, **labels)


def build_head(task: str, backbone: Backbone, train_records: list[dict]) -> StandardizedHead:
    """The task head sized for this backbone (a dummy forward gives the feature shapes), input-standardised."""
    return StandardizedHead(_task_head(task, backbone, train_records))


def _task_head(task: str, backbone: Backbone, train_records: list[dict]) -> nn.Module:
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
    """AdamW on the head (and, for ``finetune``, the backbone); returns the loss per step. ``linear``: features are
    computed once (backbone in eval mode) and standardised with the training subset's statistics."""
    generator = torch.Generator().manual_seed(seed)
    finetune = protocol == "finetune"
    params = list(head.parameters()) + (list(backbone.parameters()) if finetune else [])
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    cached = None if finetune else _features(backbone, pixels)
    if cached is not None and isinstance(head, StandardizedHead):
        head.fit(_head_input(task, *cached))
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
def regression_metrics(predictions, references, names) -> dict[str, float]:
    """ICC(3,1), CCC, PCC, MAE, RMSE per output (``icc_<name>``) and averaged over outputs (``icc``), from
    :func:`hfvid.metrics.affect.affect_metrics` (NaN references, e.g. BP4D's uncoded frames, are skipped)."""
    from ...metrics.affect import affect_metrics

    results = affect_metrics(predictions, references, names=names)
    out = {key[: -len("_mean")]: value for key, value in results.items() if key.endswith("_mean")}
    out.update({key: value for key, value in results.items()
                if not key.endswith("_mean") and not key.startswith("num_frames_")})
    return out


def evaluate_task(task: str, backbone: Backbone, head: nn.Module, records: list[dict], encoded: dict,
                  names=None, verification: dict | None = None) -> dict:
    """The task's metrics on ``records`` with predictions mapped back to dataset units.

    ``names``: AU output names. ``verification`` (real recognition data): ``{"kind": "pairs", "first", "second",
    "same", "folds"}`` (LFW, 10-fold accuracy) or ``{"kind": "templates", "templates", "medias", "pairs",
    "labels"}`` (IJB 1:1, media/template pooling, TAR@FAR 1e-4/1e-5); without it every pair of test images is
    scored."""
    from ...metrics.classification import accuracy
    from ...metrics.landmarks import landmark_metrics
    from ...metrics.verification import tar_at_far, verification_accuracy

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

        if names is None and out.intensities.shape[1] == len(AU_NAMES):
            names = AU_NAMES
        return regression_metrics(out.intensities.numpy(), np.stack([r["intensities"] for r in records]), names)
    if task == "expression":
        metrics = {"accuracy": accuracy(out.logits.argmax(-1).numpy(), [r["label"] for r in records])}
        va = regression_metrics(out.valence_arousal.numpy(), np.stack([r["valence_arousal"] for r in records]),
                                names=("valence", "arousal"))
        metrics.update({k: v for k, v in va.items() if k.endswith(("_valence", "_arousal"))})
        return metrics
    embeddings = out.embeddings.numpy()
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
def run_benchmark(backbone, tasks, fractions=(1.0, 0.1, 0.01), seeds=(0, 1, 2), protocol: str = "linear",
                  output_dir="face-benchmark", dataset_format="synthetic", data_dir=None, steps: int = 100,
                  batch_size: int = 32, learning_rate: float | None = None, image_size: int | None = None,
                  train_size: int = 64, test_size: int = 32, split_mode: str = "images") -> dict:
    """Run every (task, fraction, seed); returns ``{"runs": [...], "table": markdown}`` and writes the files.

    ``backbone``: a path / hub id of any `AutoModel` checkpoint with a pooled output (an hfvid FRL encoder, a
    transformers ResNet/ViT, ...) or a model object. ``dataset_format`` / ``data_dir``: one value for all tasks or
    ``{task: value}``; ``"synthetic"`` (default) is the built-in data, the real formats and the layout each expects
    are :data:`REAL_FORMATS`. ``learning_rate`` defaults to :data:`DEFAULT_LEARNING_RATES` of the protocol.
    ``split_mode`` applies to video tasks (``"frames"`` or ``"stride"``); ``"images"`` samples frames uniformly too.
    """
    tasks = check_tasks(tasks)
    fractions = [check_fraction(f) for f in fractions]
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    sources = resolve_sources(tasks, dataset_format, data_dir)
    learning_rate = DEFAULT_LEARNING_RATES[protocol] if learning_rate is None else learning_rate
    base, processor = load_backbone(backbone, image_size)
    output_dir = Path(output_dir)
    runs = []
    for task in tasks:
        fmt, folder = sources[task]
        data = (synthetic_task_data(task, base.image_size if image_size is None else image_size, train_size,
                                    test_size)
                if fmt == "synthetic" else real_task_data(task, fmt, folder))
        train_encoded, test_encoded = _encode(data["train"], processor), _encode(data["test"], processor)
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
                metrics = evaluate_task(task, model, head, data["test"], test_encoded, data.get("names"),
                                        data.get("verification"))
                name = f"{task}_f{fraction:g}_s{seed}"
                split_path = save_manifest(output_dir / "splits" / f"{name}.json", task, fraction, seed, indices,
                                           mode=mode)
                run = {"task": task, "fraction": fraction, "seed": seed, "protocol": protocol,
                       "backbone": str(backbone) if isinstance(backbone, (str, Path)) else type(backbone).__name__,
                       "dataset": fmt, "data_dir": None if folder is None else str(folder),
                       "num_train": len(indices), "num_test": len(data["test"]),
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
    "DEFAULT_LEARNING_RATES",
    "PROTOCOLS",
    "REAL_FORMATS",
    "TASKS",
    "Backbone",
    "BenchmarkTask",
    "StandardizedHead",
    "aggregate",
    "build_head",
    "check_tasks",
    "evaluate_task",
    "load_backbone",
    "markdown_table",
    "real_task_data",
    "regression_metrics",
    "resolve_sources",
    "run_benchmark",
    "synthetic_task_data",
    "train_head",
]
