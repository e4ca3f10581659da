"""Data of the FRL few-shot face benchmark: per-task records (synthetic or read from the real datasets' files) and a
streaming face-crop dataset.

A *record* is a light dict: the image as ``image_path`` (real data: never decoded up front) or ``image`` (a small
in-memory array, synthetic data), an optional xyxy face ``box``, and the task's annotations in dataset units
(``landmarks``, ``landmarks_3d`` + ``yaw``, ``intensities`` + ``subject``/``video``/``frame``, ``label`` +
``valence_arousal``, ``identity``). :class:`FaceTaskDataset` decodes, crops and resizes one image per item, so a
DataLoader over it holds ``batch_size x num_workers`` images at a time, whatever the size of the dataset.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

TASK_NAMES = ("landmarks", "alignment_3d", "au_intensity", "expression", "recognition")

# Real-data readers per task: format -> expected layout under its data_dir (see `real_task_data`).
REAL_FORMATS = {
    "landmarks": {"300w": "train/ and test/ folders of images + iBUG .pts files",
                  "wflw": "list_98pt_rect_attr_{train,test}.txt (searched recursively) + images under WFLW_images/",
                  "cofw": "COFW_train_color.mat and COFW_test_color.mat"},
    "alignment_3d": {"aflw2000": "train/ (300W-LP or AFLW2000-style .mat + .jpg) and test/ (AFLW2000-3D)"},
    "au_intensity": {"disfa": "ActionUnit_Labels/SNxxx/SNxxx_auY.txt + frames/<video_id>/<number>.jpg (numbered "
                              "from first_frame_index, default 1); test = the subjects of DISFA fold `fold`",
                     "bp4d": "AUxx/<subject>_<task>_AUxx.csv + frames/<video_id>/<number>.jpg (numbered from "
                             "first_frame_index, default 1); test = the FERA2015 development subjects"},
    "expression": {"affectnet": "training.csv, validation.csv (test) + images under Manually_Annotated_Images/"},
    "recognition": {"lfw": "train/<identity>/*.jpg (e.g. a VGGFace2 subset) + pairs.txt and lfw/<name>/ (test)",
                    "ijbb": "train/<identity>/*.jpg + meta/ijbb_*.txt and loose_crop/ (test, 1:1 templates)",
                    "ijbc": "train/<identity>/*.jpg + meta/ijbc_*.txt and loose_crop/ (test, 1:1 templates)"},
}


def check_tasks(names) -> list[str]:
    """The task names, or ``ValueError`` listing the known ones."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [name for name in names if name not in TASK_NAMES]
    if unknown or not names:
        raise ValueError(f"unknown task(s) {unknown or names}; known tasks: {', '.join(TASK_NAMES)}")
    return names


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


# ------------------------------------------------------------------------------------------------ records
def synthetic_task_data(task: str, image_size: int = 64, train_size: int = 64, test_size: int = 32,
                        seed: int = 1234) -> dict:
    """``{"train": records, "test": records}`` of built-in synthetic data (train/test are group-disjoint)."""
    from . import synthetic_face_tasks as tasks
    from .synthetic import synthetic_faces

    check_tasks([task])
    if task == "landmarks":
        return {"train": synthetic_faces(train_size, image_size, seed),
                "test": synthetic_faces(test_size, image_size, seed + 1)}
    if task == "alignment_3d":
        return {"train": tasks.synthetic_3d_faces(train_size, image_size, seed),
                "test": tasks.synthetic_3d_faces(test_size, image_size, seed + 1)}
    if task == "expression":
        return {"train": tasks.synthetic_expression_faces(train_size, image_size, seed),
                "test": tasks.synthetic_expression_faces(test_size, image_size, seed + 1)}
    if task == "au_intensity":
        from .fraction_splits import subject_disjoint_split

        frames = 8
        subjects = max(2, math.ceil((train_size + test_size) / (2 * frames)))
        records = tasks.synthetic_au_videos(subjects, 2, frames, image_size, seed)
        train, test = subject_disjoint_split([r["subject"] for r in records], test_size / (train_size + test_size),
                                             seed)
        return {"train": [records[i] for i in train], "test": [records[i] for i in test]}
    per_identity = 4
    test = tasks.synthetic_identity_faces(max(2, test_size // per_identity), per_identity, image_size, seed + 1)
    return {"train": tasks.synthetic_identity_faces(max(2, train_size // per_identity), per_identity, image_size,
                                                    seed), "test": test}


def _find(root: Path, name: str) -> Path:
    matches = sorted(root.rglob(name))
    if not matches:
        raise ValueError(f"{root}: expected a file {name} (searched recursively)")
    return matches[0]


def _landmark_rows(dataset) -> list[dict]:
    """Rows of a landmark ``datasets.Dataset`` as records, images left on disk (the ``image`` column not read)."""
    columns = dataset.select_columns(["image_path", "landmarks", "box"])
    return [{"image_path": row["image_path"], "landmarks": np.asarray(row["landmarks"], np.float32),
             "box": np.asarray(row["box"], np.float32)} for row in columns]


def au_records(fmt: str, root, fold: int = 0, first_frame_index: int | None = None) -> dict:
    """DISFA / BP4D labels + extracted frames -> ``{"train", "test", "names", "protocol"}`` records of the
    subject-independent split :func:`hfvid.data.au_folds.au_fold` (labels are 0-based frames; the frame files are
    matched by :func:`hfvid.data.frame_folders.frames_for_labels`, which refuses an off-by-one numbering)."""
    from .au_folds import au_fold
    from .formats.affect_labels import group_sequences
    from .formats.bp4d import FERA2015_AU_NAMES, load_bp4d_labels
    from .formats.disfa import DISFA_AU_NAMES, load_disfa_labels
    from .frame_folders import FIRST_FRAME_INDEX, frames_for_labels

    root = Path(root)
    split = au_fold(fmt, fold)
    labels = load_disfa_labels(root) if fmt == "disfa" else load_bp4d_labels(root)
    subjects = dict(zip(labels["video_id"], labels["subject_id"]))
    first = FIRST_FRAME_INDEX if first_frame_index is None else first_frame_index
    sides: dict[str, list[dict]] = {"train": [], "test": []}
    outside = set()
    for video, sequence in group_sequences(labels).items():
        side = split.side(subjects[video])
        if side is None:
            outside.add(subjects[video])
            continue
        paths = frames_for_labels(root / "frames" / video, sequence["frames"], first)
        for frame, values, path in zip(sequence["frames"], sequence["labels"], paths):
            if path is None:
                raise ValueError(f"{root / 'frames' / video}: no image for labelled frame {int(frame)} (0-based; "
                                 f"files numbered from first_frame_index={first})")
            sides[side].append({"image_path": str(path), "intensities": np.asarray(values, np.float32),
                                "subject": subjects[video], "video": video, "frame": int(frame)})
    if outside:
        raise ValueError(f"{root}: subjects {sorted(outside)} belong to neither side of {split.protocol}")
    if not sides["train"] or not sides["test"]:
        raise ValueError(f"{root}: {split.protocol} needs frames of both training subjects {split.train_subjects} "
                         f"and test subjects {split.test_subjects}")
    split.check_disjoint({r["subject"] for r in sides["train"]}, {r["subject"] for r in sides["test"]})
    return {**sides, "names": list(DISFA_AU_NAMES if fmt == "disfa" else FERA2015_AU_NAMES),
            "protocol": split.protocol}


def real_task_data(task: str, fmt: str, data_dir, fold: int = 0, first_frame_index: int | None = None) -> dict:
    """``{"train": records, "test": records}`` (plus ``"names"`` for AU outputs and ``"verification"`` for the
    pair protocols) read from ``data_dir`` in the layout of :data:`REAL_FORMATS` ``[task][fmt]``. ``fold`` and
    ``first_frame_index`` apply to the AU datasets (:func:`au_records`)."""
    from . import formats

    root = Path(data_dir)
    if fmt not in REAL_FORMATS.get(task, {}):
        raise ValueError(f"unknown dataset format {fmt!r} for task {task}; known: {', '.join(REAL_FORMATS[task])}")
    if not root.is_dir():
        raise ValueError(f"data_dir {root} of task {task} is not a folder ({REAL_FORMATS[task][fmt]})")
    if fmt == "300w":
        return {split: _landmark_rows(formats.load_pts_folder(root / split)) for split in ("train", "test")}
    if fmt == "wflw":
        images = root / "WFLW_images" if (root / "WFLW_images").is_dir() else root
        return {split: _landmark_rows(formats.read_wflw_annotations(_find(root, f"list_98pt_rect_attr_{split}.txt"),
                                                                    images)) for split in ("train", "test")}
    if fmt == "cofw":
        from .formats.cofw import load_cofw

        return load_cofw(root)  # one .mat per split: its images are in memory anyway
    if fmt == "aflw2000":
        from .formats.aflw2000 import load_aflw2000_folder

        return {split: load_aflw2000_folder(root / split) for split in ("train", "test")}
    if fmt in ("disfa", "bp4d"):
        return au_records(fmt, root, fold, first_frame_index)
    if fmt == "affectnet":
        from .formats.affectnet import read_affectnet_csv

        images = root / "Manually_Annotated_Images" if (root / "Manually_Annotated_Images").is_dir() else root
        return {"train": read_affectnet_csv(root / "training.csv", images, drop_invalid_valence_arousal=True),
                "test": read_affectnet_csv(root / "validation.csv", images)}
    from .formats.lfw import read_identity_folders

    train = [{"image_path": r["image_path"], "identity": r["identity"], "box": r["box"]}
             for r in read_identity_folders(root / "train")]
    if fmt == "lfw":
        from .formats.lfw import read_lfw_pairs

        pairs = read_lfw_pairs(root / "pairs.txt", root / "lfw")
        paths = sorted({p[key] for p in pairs for key in ("first", "second")})
        index = {path: i for i, path in enumerate(paths)}
        test = [{"image_path": path, "identity": Path(path).parent.name} for path in paths]
        verification = {"kind": "pairs", "first": np.array([index[p["first"]] for p in pairs]),
                        "second": np.array([index[p["second"]] for p in pairs]),
                        "same": np.array([p["same"] for p in pairs]), "folds": np.array([p["fold"] for p in pairs])}
        return {"train": train, "test": test, "verification": verification}
    from .formats.ijb import read_ijb_protocol

    protocol = read_ijb_protocol(root, fmt)
    test = [{"image_path": str(path), "identity": int(t)} for path, t in zip(protocol["images"], protocol["templates"])]
    verification = {"kind": "templates", **{k: protocol[k] for k in ("templates", "medias", "pairs", "labels")}}
    return {"train": train, "test": test, "verification": verification}


def split_labels(task: str, records: list[dict]):
    """What a few-shot subset is stratified by: the class (expression), the identity (recognition), else None."""
    if task == "expression":
        return [r["label"] for r in records]
    if task == "recognition":
        return [r["identity"] for r in records]
    return None


# ------------------------------------------------------------------------------------------------ streaming
def load_record_image(record: dict) -> np.ndarray:
    """The record's RGB image as an ``(H, W, 3)`` uint8 array, decoded now (from ``image_path``) or as stored."""
    if record.get("image") is not None:
        image = record["image"]
        return np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    path = record.get("image_path")
    if path is None:
        raise ValueError(f"a benchmark record needs an 'image' or an 'image_path', got keys {sorted(record)}")
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


class FaceCropAugmentation:
    """Training augmentation of the face crops: the face box scaled by ``1 + U(-scale, scale)`` and shifted by
    ``U(-shift, shift)`` of its side (the crop matrix follows, so landmark targets stay exact), a horizontal flip
    with probability ``flip`` (pooled tasks only: a mirrored face swaps left and right landmarks), and brightness /
    contrast jitter of strength ``color`` on the normalised pixels. Draws from torch's global RNG (seeded per run,
    and per DataLoader worker by PyTorch)."""

    def __init__(self, scale: float = 0.1, shift: float = 0.05, flip: float = 0.5, color: float = 0.2):
        for name, value in (("scale", scale), ("shift", shift), ("flip", flip), ("color", color)):
            if not 0 <= value <= 1:
                raise ValueError(f"augmentation {name} must be in [0, 1], got {value!r}")
        self.scale, self.shift, self.flip, self.color = scale, shift, flip, color

    def jitter_box(self, box: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = (float(v) for v in box)
        u = torch.rand(3).tolist()
        side = max(x2 - x1, y2 - y1) * (1 + self.scale * (2 * u[0] - 1))
        cx = (x1 + x2) / 2 + self.shift * (2 * u[1] - 1) * (x2 - x1)
        cy = (y1 + y2) / 2 + self.shift * (2 * u[2] - 1) * (y2 - y1)
        return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)

    def __repr__(self):
        return f"FaceCropAugmentation(scale={self.scale}, shift={self.shift}, flip={self.flip}, color={self.color})"


class FaceTaskDataset(torch.utils.data.Dataset):
    """``records`` -> ``{"pixel_values" (3, S, S), "crop_matrices" (2, 3), "index", <task targets>}`` one image
    at a time: decode, crop the face box (whole image without one) and resize through ``processor``.

    Targets are in crop units, ready for the task heads: ``labels`` (landmarks / 3D landmarks through the crop,
    AU intensities, class, identity number from ``identities``) and ``valence_arousal``. ``augmentation``: a
    :class:`FaceCropAugmentation` (training only)."""

    def __init__(self, task: str, records: list[dict], processor, identities: dict | None = None,
                 augmentation: FaceCropAugmentation | None = None):
        check_tasks([task])
        self.task, self.records, self.processor, self.augmentation = task, records, processor, augmentation
        if task == "recognition" and identities is None:
            identities = {identity: i for i, identity in enumerate(sorted({r["identity"] for r in records}))}
        self.identities = identities
        self.use_boxes = all(r.get("box") is not None for r in records)

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        image = load_record_image(record)
        box = np.asarray(record["box"], np.float32) if self.use_boxes else None
        if box is not None and self.augmentation is not None:
            box = self.augmentation.jitter_box(box)
        encoded = self.processor(image, boxes=None if box is None else [box.tolist()], return_tensors="pt")
        pixels, matrix = encoded["pixel_values"][0], encoded["crop_matrices"][0]
        if self.augmentation is not None:
            pixels, matrix = self._photometric_and_flip(pixels, matrix)
        return {"pixel_values": pixels, "crop_matrices": matrix, "index": index,
                **self._targets(record, matrix)}

    def _photometric_and_flip(self, pixels, matrix):
        aug = self.augmentation
        if aug.flip and self.task in ("au_intensity", "expression", "recognition") and torch.rand(()) < aug.flip:
            pixels = pixels.flip(-1)
            flip = torch.tensor([[-1.0, 0.0, pixels.shape[-1] - 1.0], [0.0, 1.0, 0.0]])
            matrix = flip[:, :2] @ matrix + torch.cat([torch.zeros(2, 2), flip[:, 2:]], 1)
        if aug.color:
            contrast, brightness = 1 + aug.color * (2 * torch.rand(()) - 1), aug.color * (2 * torch.rand(()) - 1)
            pixels = pixels * contrast + brightness
        return pixels, matrix

    def _targets(self, record: dict, matrix: torch.Tensor) -> dict:
        from ..modules.heatmaps import apply_affine

        task = self.task
        if task == "landmarks":
            return {"labels": apply_affine(matrix, torch.as_tensor(record["landmarks"], dtype=torch.float32))}
        if task == "alignment_3d":
            points = torch.as_tensor(record["landmarks_3d"], dtype=torch.float32)
            zoom = torch.linalg.det(matrix[:, :2]).abs().sqrt()
            return {"labels": torch.cat([apply_affine(matrix, points[:, :2]), points[:, 2:] * zoom], -1)}
        if task == "au_intensity":
            return {"labels": torch.as_tensor(record["intensities"], dtype=torch.float32)}
        if task == "expression":
            return {"labels": torch.tensor(int(record["label"])),
                    "valence_arousal": torch.as_tensor(record["valence_arousal"], dtype=torch.float32)}
        return {"labels": torch.tensor(self.identities[record["identity"]])}


__all__ = [
    "REAL_FORMATS",
    "TASK_NAMES",
    "FaceCropAugmentation",
    "FaceTaskDataset",
    "au_records",
    "check_tasks",
    "load_record_image",
    "real_task_data",
    "resolve_sources",
    "split_labels",
    "synthetic_task_data",
]
