#!/usr/bin/env python
"""Fine-tune (or train) MViTv2 for video classification with Accelerate.

    accelerate launch training_scripts/train_mvitv2.py --train_dir ucf101/train --validation_dir ucf101/val \
        --model_name_or_path <hfvid MViTv2-S converted from torchvision (K400)> --output_dir out/mvitv2-ucf101
    python training_scripts/train_mvitv2.py --dataset_name synthetic --cpu --output_dir out/mvitv2-synthetic \
        --config_overrides 'image_size=[32,32],num_frames=4,embed_dim=16,num_heads=[1,2],output_channels=[16,32],stride_q=[[1,1,1],[1,2,2]],stride_kv=[[1,4,4],[1,2,2]]'

Data: `--dataset_name synthetic` (coloured shapes moving left/right/up/down, rendered at the model's clip size;
`--synthetic_classes motion` keeps one shape, so only the motion tells the 4 classes apart) or a video folder:
`<dir>/<class name>/<video file>`, one sub-folder per class (the class list is the sorted training sub-folders;
the validation folder may not add classes). Each video is decoded with PyAV when it is read, `num_frames` frames
spread uniformly over the whole video, short side resized, centre crop (Kinetics evaluation style, no augmentation).
With `--model_name_or_path` the backbone loads from an hfvid MViTv2 checkpoint and the classifier is new whenever
the class count differs. Evaluation: top-1 (and top-5 with at least 5 classes) accuracy on the validation set.
"""

from pathlib import Path

import torch

from hfvid.metrics.classification import classification_metrics
from hfvid.models.mvitv2 import MViTv2Config, MViTv2ForVideoClassification, MViTv2VideoProcessor
from hfvid.training import (evaluate_predictions, finish_training, make_accelerator, make_dataloaders, make_parser,
                            parse_config_overrides, prepare_training, training_results, validate_args)


VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v"}


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("MViTv2")
    group.add_argument("--model_name_or_path", type=str, default=None,
                       help="An hfvid MViTv2 checkpoint (e.g. converted from torchvision mvit_v2_s) to fine-tune.")
    group.add_argument("--config_overrides", type=str, default=None,
                       help='MViTv2 config fields of a new model, e.g. "num_frames=8,classifier_dropout=0.2".')
    group.add_argument("--synthetic_classes", choices=["motion", "all"], default="motion",
                       help="Synthetic classes: 4 motions of one shape, or all 36 colour x shape x motion classes.")
    group.add_argument("--synthetic_train_samples", type=int, default=256)
    group.add_argument("--synthetic_eval_samples", type=int, default=64)
    args = parser.parse_args(argv)
    validate_args(args, dataset_names=("synthetic",))
    return args


def list_video_folder(root, class_names: list[str] | None = None) -> tuple[list[tuple[Path, int]], list[str]]:
    """``(path, label)`` of every video under ``<root>/<class>/`` and the sorted class names.

    With ``class_names`` (the training classes) every sub-folder must be one of them, so labels agree across splits.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"video folder {root} does not exist")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    names = class_names or [p.name for p in folders]
    unknown = sorted({p.name for p in folders} - set(names))
    if unknown:
        raise ValueError(f"{root} has class folders that the training set lacks: {unknown[:5]}")
    index = {name: i for i, name in enumerate(names)}
    items = [(path, index[folder.name]) for folder in folders for path in sorted(folder.iterdir())
             if path.suffix.lower() in VIDEO_SUFFIXES]
    if not items:
        raise ValueError(f"no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) in the class folders of {root}; expected "
                         f"<root>/<class name>/<video file>")
    return items, names


class VideoFolderDataset(torch.utils.data.Dataset):
    """Videos of a class-per-folder tree, decoded and processed when read: items ``{"pixel_values", "labels"}``."""

    def __init__(self, items, processor, limit: int | None = None):
        self.items, self.processor = items[:limit], processor

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        path, label = self.items[index]
        pixel_values = self.processor(str(path), return_tensors="pt")["pixel_values"][0]
        return {"pixel_values": pixel_values, "labels": torch.tensor(label)}


class SyntheticMotionDataset(torch.utils.data.Dataset):
    """Seeded moving-shape clips at the model's clip size, processed once."""

    def __init__(self, count: int, seed: int, processor, config: MViTv2Config, classes: str):
        from hfvid.data.synthetic_video import shapes_in_motion

        subset = {"colours": ("red",), "shapes": ("square",)} if classes == "motion" else {}
        videos = shapes_in_motion(count, num_frames=config.num_frames, image_size=config.image_size[0], seed=seed,
                                  **subset)
        self.pixel_values = processor([v["frames"] for v in videos], return_tensors="pt")["pixel_values"]
        self.labels = torch.tensor([v["label"] for v in videos])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return {"pixel_values": self.pixel_values[index], "labels": self.labels[index]}


def synthetic_class_names(classes: str) -> list[str]:
    from hfvid.data.synthetic_video import action_classes

    return action_classes(("red",), ("square",)) if classes == "motion" else action_classes()


def build_model(args, class_names: list[str]):
    """A classifier for ``class_names``: fine-tuned from ``--model_name_or_path`` or new from config overrides."""
    id2label = dict(enumerate(class_names))
    labels = dict(id2label=id2label, label2id={name: i for i, name in id2label.items()})
    overrides = parse_config_overrides(args.config_overrides)
    if args.model_name_or_path:
        model = MViTv2ForVideoClassification.from_pretrained(
            args.model_name_or_path, ignore_mismatched_sizes=True, **labels, **overrides
        )
    else:
        model = MViTv2ForVideoClassification(MViTv2Config(**labels, **overrides))
    height, width = model.config.image_size
    clip = dict(crop_size={"height": height, "width": width}, num_frames=model.config.num_frames,  # the model decides
                num_clips=1, num_crops=1)  # one view per video, also from converted checkpoints with test views
    if args.model_name_or_path and (Path(args.model_name_or_path) / "video_preprocessor_config.json").is_file():
        return model, MViTv2VideoProcessor.from_pretrained(args.model_name_or_path, **clip)
    return model, MViTv2VideoProcessor(size={"shortest_edge": round(min(height, width) * 256 / 224)}, **clip)


def class_names_for(args) -> list[str]:
    if args.dataset_name == "synthetic":
        return synthetic_class_names(args.synthetic_classes)
    if not args.train_dir:
        raise ValueError("give --dataset_name synthetic or --train_dir <dir>/<class name>/<video file>")
    return list_video_folder(args.train_dir)[1]


def load_datasets(args, processor, config, class_names: list[str]):
    if args.dataset_name == "synthetic":
        make = lambda count, seed: SyntheticMotionDataset(count, seed, processor, config, args.synthetic_classes)  # noqa: E731
        return make(args.synthetic_train_samples, args.seed), make(args.synthetic_eval_samples, args.seed + 1)
    train = VideoFolderDataset(list_video_folder(args.train_dir, class_names)[0], processor, args.max_train_samples)
    evaluation = None
    if args.validation_dir:
        items = list_video_folder(args.validation_dir, class_names)[0]
        evaluation = VideoFolderDataset(items, processor, args.max_eval_samples)
    return train, evaluation


def main(args):
    accelerator = make_accelerator(args)
    class_names = class_names_for(args)
    model, processor = build_model(args, class_names)
    with accelerator.main_process_first():
        train_set, eval_set = load_datasets(args, processor, model.config, class_names)
    train_loader, eval_loader = make_dataloaders(args, train_set, eval_set)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    training = prepare_training(accelerator, args, model, optimizer, train_loader, eval_loader,
                                project_name="mvitv2", processor=processor)
    model, eval_loader = training.model, training.eval_dataloader

    def compute_loss(m, batch):
        return m(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss

    def evaluate():
        if eval_loader is None:
            return None
        logits, labels = evaluate_predictions(
            accelerator, model, eval_loader, lambda m, batch: (m(pixel_values=batch["pixel_values"]).logits,
                                                               batch["labels"])
        )
        return classification_metrics(logits, labels) if accelerator.is_main_process else None

    history = training.loop.run(compute_loss, evaluate=evaluate)
    results = training_results(history, num_classes=model.config.num_labels,
                               dataset=args.dataset_name or args.train_dir)
    finish_training(accelerator, args, model, processor, results,
                    card_kwargs={"extra": {"fine_tuned_from": args.model_name_or_path}})
    return {"history": history, "results": results}


if __name__ == "__main__":
    main(parse_args())
