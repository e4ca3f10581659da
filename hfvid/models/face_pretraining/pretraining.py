"""What SwAV pre-training needs beyond the model: multi-crop augmentation, LARS, the warm-up + cosine schedule,
and a closed-form linear probe used to monitor representation quality."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import torch


class RandomPILGaussianBlur:
    """PIL Gaussian blur with radius ~ U[radius_min, radius_max], applied with probability ``p`` (no OpenCV)."""

    def __init__(self, p: float = 0.5, radius_min: float = 0.1, radius_max: float = 2.0):
        self.p, self.radius_min, self.radius_max = p, radius_min, radius_max

    def __call__(self, image):
        from PIL import ImageFilter

        if random.random() >= self.p:
            return image
        return image.filter(ImageFilter.GaussianBlur(radius=random.uniform(self.radius_min, self.radius_max)))


class SwAVMultiCrop:
    """One image -> ``sum(num_crops)`` augmented crops, all ``crop_sizes[0]`` crops first (the order the model's
    same-size grouping relies on): RandomResizedCrop(size_i, scale_i), flip, colour jitter (p=0.8, strength s),
    grayscale (p=0.2), PIL Gaussian blur (p=0.5), to tensor, normalise."""

    def __init__(self, crop_sizes, num_crops, min_scale_crops, max_scale_crops, image_mean, image_std,
                 color_strength: float = 1.0, blur_prob: float = 0.5):
        from torchvision.transforms import v2

        if not len(crop_sizes) == len(num_crops) == len(min_scale_crops) == len(max_scale_crops):
            raise ValueError("crop_sizes, num_crops, min_scale_crops and max_scale_crops must have the same length")
        s = color_strength
        common = [
            v2.RandomHorizontalFlip(p=0.5),
            v2.RandomApply([v2.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            RandomPILGaussianBlur(p=blur_prob),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(image_mean), std=list(image_std)),
        ]
        self.transforms = []
        for size, count, low, high in zip(crop_sizes, num_crops, min_scale_crops, max_scale_crops):
            crop = v2.RandomResizedCrop(size, scale=(low, high), antialias=True)
            self.transforms += [v2.Compose([crop, *common])] * count

    def __call__(self, image) -> list[torch.Tensor]:
        from PIL import Image

        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        image = image.convert("RGB")
        return [transform(image) for transform in self.transforms]


class MultiCropDataset(torch.utils.data.Dataset):
    """Unlabelled face images -> ``{"pixel_values": [crop, ...]}``; images are arrays, PIL images or file paths."""

    def __init__(self, images, transform: SwAVMultiCrop):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        from PIL import Image

        image = self.images[index]
        if isinstance(image, str):
            image = Image.open(image)
        return {"pixel_values": self.transform(image)}


class HDF5Images:
    """FRL's pre-training HDF5 layout (dataset ``images``, one encoded JPEG/PNG face crop per entry) as a lazy
    sequence: ``len()`` reads only the dataset's shape, ``[i]`` decodes entry ``i`` to an RGB PIL image.

    The file is opened on first access in each process (an h5py handle must not cross a DataLoader worker's fork),
    so memory does not grow with the number of images. Needs ``h5py`` (``pip install h5py``)."""

    def __init__(self, path):
        self.path = str(path)
        with self._open() as handle:
            if "images" not in handle:
                raise ValueError(f"{path} has no 'images' dataset (FRL layout: encoded image bytes per entry)")
            self.length = len(handle["images"])
        self._handle = self._pid = None

    def _open(self):
        try:
            import h5py
        except ImportError as error:
            raise ImportError("reading FRL .h5 files needs h5py: pip install h5py") from error
        if not Path(self.path).is_file():
            raise FileNotFoundError(f"HDF5 file {self.path} does not exist")
        return h5py.File(self.path, "r")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        import io

        from PIL import Image

        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} images in {self.path}")
        if self._handle is None or self._pid != os.getpid():
            self._handle, self._pid = self._open(), os.getpid()
        data = bytes(np.asarray(self._handle["images"][index]))
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")

    def __getstate__(self):
        return {**self.__dict__, "_handle": None, "_pid": None}


class LARS(torch.optim.Optimizer):
    """SGD with momentum + layer-wise adaptive rate scaling, as apex ``LARC(clip=False)`` which FRL/SwAV use.

    For every tensor: ``g <- g + wd * p``; ``g <- trust * ||p|| / (||g_raw|| + wd ||p|| + eps) * g`` (when both norms
    are non-zero); then momentum SGD with learning rate ``lr``. Applies to every tensor, BN and biases included.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 1e-6,
                 trust_coefficient: float = 0.001, eps: float = 1e-8):
        if lr < 0 or momentum < 0 or weight_decay < 0 or trust_coefficient <= 0:
            raise ValueError("LARS needs lr >= 0, momentum >= 0, weight_decay >= 0 and trust_coefficient > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                param_norm, grad_norm = param.norm(), grad.norm()
                wd = group["weight_decay"]
                if param_norm > 0 and grad_norm > 0:
                    scale = group["trust_coefficient"] * param_norm / (grad_norm + wd * param_norm + group["eps"])
                else:
                    scale = torch.ones_like(param_norm)
                update = (grad + wd * param) * scale
                if group["momentum"]:
                    buffer = self.state[param].get("momentum_buffer")
                    if buffer is None:
                        buffer = self.state[param]["momentum_buffer"] = update.clone()
                    else:
                        buffer.mul_(group["momentum"]).add_(update)
                    update = buffer
                param.add_(update, alpha=-group["lr"])
        return loss


def swav_learning_rate(iteration: int, total_iterations: int, warmup_iterations: int, base_lr: float,
                       start_warmup: float = 0.0, final_lr: float = 0.0) -> float:
    """SwAV's per-iteration schedule: linear warm-up ``start_warmup -> base_lr``, then cosine ``base_lr ->
    final_lr`` (reaches ``final_lr`` one step after the last iteration, as in the original ``np.linspace`` code)."""
    if iteration < warmup_iterations:
        return start_warmup + (base_lr - start_warmup) * iteration / max(warmup_iterations - 1, 1)
    steps = max(total_iterations - warmup_iterations, 1)
    t = iteration - warmup_iterations
    return final_lr + 0.5 * (base_lr - final_lr) * (1 + math.cos(math.pi * t / steps))


def swav_scheduler(optimizer, total_iterations: int, warmup_iterations: int, start_warmup: float = 0.0,
                   final_lr: float = 0.0, num_processes: int = 1):
    """A `LambdaLR` following :func:`swav_learning_rate` with the optimizer's lr as ``base_lr``.

    A scheduler prepared by Accelerate steps ``num_processes`` times per optimizer step, so iterations are counted
    in those units (as ``hfvid.training.make_lr_scheduler`` does)."""
    base_lr = optimizer.param_groups[0]["lr"]
    if base_lr <= 0:
        raise ValueError(f"the optimizer's learning rate (base_lr) must be > 0, got {base_lr}")

    def factor(step: int) -> float:
        return swav_learning_rate(step // num_processes, total_iterations, warmup_iterations, base_lr, start_warmup,
                                  final_lr) / base_lr

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, ridge: float = 1e-2) -> float:
    """Accuracy (%) of a closed-form ridge-regression classifier on standardised features (deterministic)."""
    x_train, x_test = torch.as_tensor(train_features).double(), torch.as_tensor(test_features).double()
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    x_train = torch.cat([x_train, torch.ones(len(x_train), 1, dtype=x_train.dtype)], 1)
    x_test = torch.cat([x_test, torch.ones(len(x_test), 1, dtype=x_test.dtype)], 1)
    labels = torch.as_tensor(np.asarray(train_labels)).long()
    targets = torch.nn.functional.one_hot(labels, int(labels.max()) + 1).double()
    gram = x_train.t() @ x_train + ridge * len(x_train) * torch.eye(x_train.shape[1], dtype=x_train.dtype)
    weights = torch.linalg.solve(gram, x_train.t() @ targets)
    predictions = (x_test @ weights).argmax(1).numpy()
    return float(100.0 * np.mean(predictions == np.asarray(test_labels)))


def identity_probe_data(processor, num_identities: int = 16, images_per_identity: int = 8, image_size: int = 64,
                        seed: int = 77):
    """Synthetic people (:func:`~hfvid.data.synthetic_face_tasks.synthetic_identity_faces`) as processor face crops:
    ``(pixel_values, identities)``; even images of each person train the probe, odd ones test it."""
    from ...data.synthetic_face_tasks import synthetic_identity_faces

    if num_identities < 2 or images_per_identity < 2:
        raise ValueError(f"the identity probe needs >= 2 identities and >= 2 images each, got {num_identities} and "
                         f"{images_per_identity}")
    faces = synthetic_identity_faces(num_identities, images_per_identity, image_size, seed)
    pixels = processor([f["image"] for f in faces], boxes=[[f["box"].tolist()] for f in faces],
                       return_tensors="pt")["pixel_values"]
    return pixels, [f["identity"] for f in faces]


@torch.no_grad()
def identity_probe_accuracy(encoder, pixels, identities) -> float:
    """Linear-probe identity accuracy (%) of ``encoder``'s pooled features (eval mode): the synthetic attribute a
    short SwAV run learns (appearance invariant to crops, flips and blur). Chance is 1 / number of identities."""
    was_training = encoder.training
    encoder.eval()
    features = encoder(pixels).pooler_output.cpu()
    encoder.train(was_training)
    return linear_probe_accuracy(features[0::2], identities[0::2], features[1::2], identities[1::2])


def prototype_usage_entropy(assignments: torch.Tensor) -> float:
    """Entropy of the mean code over a batch divided by log K (1 = all prototypes used equally, 0 = one prototype).

    Blind to SwAV's usual collapse: a constant embedding gives uniform codes, hence maximal usage entropy; watch
    :func:`code_entropy` for that."""
    usage = assignments.reshape(-1, assignments.shape[-1]).float().mean(0).clamp_min(1e-12)
    return float(-(usage * usage.log()).sum() / math.log(assignments.shape[-1]))


def code_entropy(assignments: torch.Tensor) -> float:
    """Mean per-sample entropy of the Sinkhorn codes divided by log K: 1 = every sample spread uniformly over the
    prototypes (collapse: the loss sits at log K and the embedding carries no information), towards 0 = confident
    assignments. Healthy runs fall well below 1 while :func:`prototype_usage_entropy` stays near 1."""
    codes = assignments.reshape(-1, assignments.shape[-1]).float()
    return float(-(codes * codes.clamp_min(1e-12).log()).sum(-1).mean() / math.log(assignments.shape[-1]))


def crop_face(image, box, margin: float = 1.2):
    """The square PIL crop of side ``margin * max(w, h)`` centred on the xyxy ``box`` (pre-training data are face
    crops, as FRL's detector crops are; out-of-image parts are black)."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    x1, y1, x2, y2 = (float(v) for v in box)
    half = margin * max(x2 - x1, y2 - y1) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return image.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))


__all__ = [
    "HDF5Images",
    "LARS",
    "MultiCropDataset",
    "RandomPILGaussianBlur",
    "SwAVMultiCrop",
    "code_entropy",
    "crop_face",
    "identity_probe_accuracy",
    "identity_probe_data",
    "linear_probe_accuracy",
    "prototype_usage_entropy",
    "swav_learning_rate",
    "swav_scheduler",
]
