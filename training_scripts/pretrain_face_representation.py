#!/usr/bin/env python
"""Pre-train a face representation with SwAV (FRL, Bulat et al., ECCV 2022) using Accelerate.

    accelerate launch training_scripts/pretrain_face_representation.py --dataset_name synthetic --output_dir out/frl
    accelerate launch training_scripts/pretrain_face_representation.py --train_dir faces/ --output_dir out/frl \
        --optimizer lars --learning_rate 4.8 --start_warmup_lr 0.3 --final_lr 0.0048 --num_warmup_steps 3130 \
        --weight_decay 1e-6 --per_device_train_batch_size 64

Data: `--dataset_name synthetic` (built-in synthetic faces, offline), `--train_dir` (a folder of face crops,
searched recursively; uncurated faces are fine) and/or `--hdf5_files` (FRL's `.h5` layout, needs h5py); all
sources given are concatenated, like FRL's `--dataset all`. Every image gives `sum(num_crops)` multi-crop views.
Each step: prototypes re-normalised, SwAV loss (Sinkhorn codes in fp32), prototypes frozen for the first
`freeze_prototypes_niters` steps, queue from epoch `epoch_queue_starts` when `queue_length > 0`, per-iteration
warm-up + cosine learning rate, LARS (default) or AdamW, SyncBN on multi-GPU runs. Evaluation: the linear-probe
identity accuracy of the pooled features on synthetic people, the prototype-usage entropy and the per-sample code
entropy (the collapse monitor, also logged every `--logging_steps`: it goes to 1 when SwAV collapses to uniform
codes, which the usage entropy cannot see). Tiny runs on synthetic faces collapse with SwAV's full colour
distortion: use `--color_strength 0` there.
"""

import json
from pathlib import Path

import torch
from accelerate.logging import get_logger

from hfvid.models.face_pretraining import (
    FaceRepresentationConfig,
    FaceRepresentationForSwAVPreTraining,
    FaceRepresentationImageProcessor,
)
from hfvid.models.face_pretraining.pretraining import (
    LARS,
    HDF5Images,
    MultiCropDataset,
    SwAVMultiCrop,
    code_entropy,
    crop_face,
    identity_probe_accuracy,
    identity_probe_data,
    prototype_usage_entropy,
    swav_scheduler,
)
from hfvid.training import (finish_training, make_accelerator, make_dataloaders, make_parser, prepare_training,
                            training_results, validate_args)

logger = get_logger(__name__, log_level="INFO")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def parse_args(argv=None):
    parser = make_parser(__doc__)
    group = parser.add_argument_group("FRL / SwAV")
    group.add_argument("--model_name_or_path", type=str, default=None, help="Continue from an hfvid FRL checkpoint.")
    group.add_argument("--config_overrides", type=str, default=None,
                       help='Config fields, e.g. "embedding_size=8,hidden_sizes=[8,16,32,64],crop_sizes=[64,32]".')
    group.add_argument("--hdf5_files", type=str, nargs="*", default=None, help="FRL .h5 files (dataset 'images').")
    group.add_argument("--optimizer", choices=["lars", "adamw"], default="lars")
    group.add_argument("--lars_trust_coefficient", type=float, default=0.001)
    group.add_argument("--start_warmup_lr", type=float, default=0.0, help="LR at iteration 0 (FRL: 0.3).")
    group.add_argument("--final_lr", type=float, default=0.0, help="LR at the end of the cosine (FRL: 0.0048).")
    group.add_argument("--color_strength", type=float, default=1.0,
                       help="Colour-distortion strength s of the multi-crop (SwAV: 1.0; 0 turns jitter off).")
    group.add_argument("--blur_prob", type=float, default=0.5, help="Gaussian-blur probability of the multi-crop.")
    group.add_argument("--synthetic_train_samples", type=int, default=256)
    group.add_argument("--synthetic_image_size", type=int, default=64)
    group.add_argument("--probe_samples", type=int, default=128, help="Synthetic faces for the linear probe (0: off).")
    args = parser.parse_args(argv)
    if args.dataset_name is None and args.train_dir is None and args.hdf5_files:
        args.dataset_name = "hdf5"
    return validate_args(args, dataset_names=("synthetic", "hdf5"), real_data="--train_dir / --hdf5_files")


def parse_overrides(text):
    """ "a=1,b=[1,2],c=basic" -> {"a": 1, "b": [1, 2], "c": "basic"}; commas inside [...] are kept."""
    overrides, depth, item = {}, 0, ""
    for char in (text or "") + ",":
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            if item.strip():
                key, _, value = item.partition("=")
                try:
                    overrides[key.strip()] = json.loads(value)
                except json.JSONDecodeError:
                    overrides[key.strip()] = value.strip()
            item = ""
        else:
            item += char
    return overrides


def load_images(args):
    """Every source given, concatenated as one lazy sequence (images are decoded per item by the DataLoader):
    synthetic face crops, an image folder's file paths, FRL HDF5 files (:class:`HDF5Images`)."""
    sources = []
    if args.dataset_name == "synthetic":
        from hfvid.data.synthetic import synthetic_faces

        faces = synthetic_faces(args.synthetic_train_samples, args.synthetic_image_size, seed=args.seed)
        sources.append([crop_face(face["image"], face["box"]) for face in faces])  # face crops, like FRL's data
    if args.train_dir:
        files = sorted(str(p) for p in Path(args.train_dir).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"--train_dir {args.train_dir} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        sources.append(files)
    sources += [HDF5Images(path) for path in args.hdf5_files or []]
    if not sources:
        raise ValueError("no training images: give --dataset_name synthetic, --train_dir or --hdf5_files")
    images = torch.utils.data.ConcatDataset(sources)
    if args.max_train_samples:
        images = torch.utils.data.Subset(images, range(min(args.max_train_samples, len(images))))
    return images


def build_model(args):
    if args.model_name_or_path:
        model = FaceRepresentationForSwAVPreTraining.from_pretrained(args.model_name_or_path)
    else:
        model = FaceRepresentationForSwAVPreTraining(FaceRepresentationConfig(**parse_overrides(args.config_overrides)))
    config = model.config
    processor = FaceRepresentationImageProcessor(image_size=config.crop_sizes[0])
    return model, processor


def main(args):
    accelerator = make_accelerator(args, find_unused_parameters=True)  # frozen prototypes get no gradient
    model, processor = build_model(args)
    config = model.config
    if accelerator.num_processes > 1 and accelerator.device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)

    with accelerator.main_process_first():
        images = load_images(args)
    transform = SwAVMultiCrop(config.crop_sizes, config.num_crops, config.min_scale_crops, config.max_scale_crops,
                              processor.image_mean, processor.image_std, args.color_strength, args.blur_prob)
    train_loader, _ = make_dataloaders(args, MultiCropDataset(images, transform))
    if args.optimizer == "lars":
        optimizer = LARS(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay,
                         trust_coefficient=args.lars_trust_coefficient)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    training = prepare_training(
        accelerator, args, model, optimizer, train_loader, project_name="face_pretraining", processor=processor,
        make_scheduler=lambda prepared, total: swav_scheduler(prepared.optimizer, total, args.num_warmup_steps,
                                                              args.start_warmup_lr, args.final_lr,
                                                              accelerator.num_processes),
    )
    model, loop = training.model, training.loop
    unwrapped = accelerator.unwrap_model(model)

    def compute_loss(m, batch):
        unwrapped.normalize_prototypes()
        use_queue = config.queue_length > 0 and loop.epoch >= config.epoch_queue_starts
        output = m(pixel_values=batch["pixel_values"], iteration=loop.global_step, use_queue=use_queue)
        if (loop.global_step + 1) % args.logging_steps == 0:  # the step about to be counted is a logging step
            # collapse monitor: per-sample code entropy -> 1 (uniform codes) while usage entropy stays at 1
            monitor = {"train_code_entropy": code_entropy(output.assignments),
                       "train_prototype_entropy": prototype_usage_entropy(output.assignments)}
            accelerator.log(monitor, step=loop.global_step + 1)
            logger.info(f"step {loop.global_step + 1}: loss {output.loss.item():.4f}, code entropy "
                        f"{monitor['train_code_entropy']:.3f} (1 = collapse), prototype usage entropy "
                        f"{monitor['train_prototype_entropy']:.3f}")
        return output.loss

    probe = None
    if args.probe_samples:  # synthetic people, processor face crops (even images train the probe, odd test it)
        identities = max(2, min(16, args.probe_samples // 4))
        probe = identity_probe_data(processor, identities, max(2, args.probe_samples // identities),
                                    args.synthetic_image_size, seed=args.seed + 1)

    def evaluate():
        if probe is None or not accelerator.is_main_process:
            return None
        unwrapped.eval()
        pixels = probe[0].to(accelerator.device)
        accuracy = identity_probe_accuracy(unwrapped.face_repr, pixels, probe[1])
        with torch.no_grad():
            codes = unwrapped(pixel_values=[pixels, pixels.flip(-1)]).assignments
        return {"probe_accuracy": accuracy, "prototype_entropy": prototype_usage_entropy(codes),
                "code_entropy": code_entropy(codes)}

    history = loop.run(compute_loss, evaluate=evaluate)
    results = training_results(history, dataset=args.dataset_name or args.train_dir)
    finish_training(accelerator, args, model, processor, results)
    return {"history": history, "results": results}


if __name__ == "__main__":
    main(parse_args())
