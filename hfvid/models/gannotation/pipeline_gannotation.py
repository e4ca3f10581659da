"""``GANnotationPipeline``: one face + a landmark trajectory -> the same face following the trajectory (diffusers).

A custom ``DiffusionPipeline`` without a scheduler: its components are the generator (``synthesizer``) and, in
checkpoints saved for resuming training, the critic (``critic``). They are transformers ``PreTrainedModel``s;
``model_index.json`` records ``hfvid.models.gannotation.modeling_gannotation`` as their module, so that path is
public API. (``generator`` is not used as a component name: diffusers reserves it for the RNG argument.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from ...modules.heatmaps import warp_affine
from .landmark_maps import crop_box, crop_matrix, normalize_shape, to_model_points
from .modeling_gannotation import GANnotationDiscriminator, GANnotationGenerator

OUTPUT_TYPES = ("pil", "np", "pt")


@dataclass
class GANnotationPipelineOutput(BaseOutput):
    """
    Args:
        images: T synthesised faces: a list of PIL images, a float array (T, H, W, 3) in [0, 1] (`"np"`), or a
            tensor (T, 3, H, W) in [0, 1] (`"pt"`); H = W = the generator's `image_size`.
        landmarks: (T, N, 2) target landmarks in output-image pixels (they annotate the synthesised faces).
        masks: (T, 1, H, W) blend masks in [0, 1] when `return_masks` (1 = copied from the source), else `None`.
    """

    images: list | np.ndarray | torch.Tensor
    landmarks: np.ndarray
    masks: np.ndarray | torch.Tensor | None = None


def image_to_tensor(image) -> torch.Tensor:
    """An image file path, PIL image (any mode: grey, palette and RGBA are converted to RGB), (H, W, 3) uint8/float
    array or (3, H, W) tensor in [0, 1] -> float tensor (3, H, W) in [0, 1]."""
    if isinstance(image, (str, os.PathLike)):  # decoded eagerly: a missing or corrupt file is named here
        from ...validation import load_image

        image = load_image(image, "image")
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"a tensor image must have shape (3, H, W) in [0, 1], got {tuple(image.shape)}")
        return image.detach().float().cpu()
    if hasattr(image, "mode") and hasattr(image, "convert"):  # PIL: its mode says how to make RGB of it
        image = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a PIL image, numpy array or torch tensor, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be a 3-channel RGB image (H, W, 3), got shape {image.shape} (grey or RGBA "
                         "images: pass a PIL image, which is converted)")
    array = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


def _as_points(value, name: str) -> np.ndarray:
    """An array-like / tensor / list of (N, 2) shapes -> float64 array (T, N, 2); NaN, inf and empty are refused."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)) and len(value) == 0:
        raise ValueError(f"{name} is empty: give one (N, 2) shape or a sequence (T, N, 2)")
    if isinstance(value, (list, tuple)) and isinstance(value[0], torch.Tensor):
        value = [v.detach().cpu().numpy() for v in value]
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numbers of shape (N, 2) or (T, N, 2): {error}") from error
    if points.ndim == 2:
        points = points[None]
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) or (T, N, 2), got {points.shape}")
    if points.shape[0] == 0:
        raise ValueError(f"{name} is an empty sequence: give at least one target shape")
    if not np.isfinite(points).all():
        raise ValueError(f"{name} contains NaN or infinite coordinates")
    return points


class GANnotationPipeline(DiffusionPipeline):
    r"""Landmark-guided face-to-face synthesis (GANnotation, Sanchez & Valstar, FG 2020).

    Example:

    ```python
    >>> import numpy as np
    >>> from hfvid import GANnotationPipeline
    >>> pipe = GANnotationPipeline.from_pretrained("path/to/gannotation")  # doctest: +SKIP
    >>> out = pipe(face_image, target_landmarks=trajectory, source_landmarks=face_points)  # doctest: +SKIP
    >>> len(out.images), out.landmarks.shape  # doctest: +SKIP
    (100, (100, 66, 2))
    ```
    """

    model_cpu_offload_seq = "synthesizer"
    _optional_components = ["critic"]

    def __init__(self, synthesizer: GANnotationGenerator, critic: GANnotationDiscriminator | None = None):
        super().__init__()
        for name, module, expected in (("synthesizer", synthesizer, GANnotationGenerator),
                                       ("critic", critic, GANnotationDiscriminator)):
            if module is not None and not isinstance(module, expected):  # a checkpoint of another method
                source = getattr(getattr(module, "config", None), "_name_or_path", "")
                raise ValueError(f"{name}: GANnotationPipeline needs a {expected.__name__}, got a "
                                 f"{type(module).__name__}" + (f" from {source!r}" if source else ""))
        self.register_modules(synthesizer=synthesizer, critic=critic)

    def _prepare_targets(self, target_landmarks, normalize: bool, margin: float) -> np.ndarray:
        config = self.synthesizer.config
        points = to_model_points(_as_points(target_landmarks, "target_landmarks"), config.num_landmarks,
                                 "target_landmarks")
        if normalize:
            points = np.stack([normalize_shape(shape, config.image_size, margin) for shape in points])
        return points

    def _prepare_source(self, image, source_landmarks, crop_source: bool, margin: float,
                        face_detector=None) -> torch.Tensor:
        """The source as a (1, 3, S, S) tensor in [0, 1]: cropped around its landmarks (or, without them, around
        the best face the detector finds, its box standing for the landmarks' extent), or resized whole."""
        size = self.synthesizer.config.image_size
        pixels = image_to_tensor(image)[None]
        if source_landmarks is not None and crop_source:
            points = to_model_points(_as_points(source_landmarks, "source_landmarks"),
                                     self.synthesizer.config.num_landmarks, "source_landmarks")[0]
            matrix = torch.from_numpy(crop_matrix(crop_box(points, margin), size)).float()[None]
            return warp_affine(pixels, matrix, size, padding_mode="border")
        if crop_source:
            from ...modules.face_detection import resolve_face_detector

            detector = resolve_face_detector(face_detector, device=self.device)
            if detector.name != "full_image":
                faces = detector(pixels[0])
                if not faces:
                    raise ValueError("image: no face found in the source image (pass source_landmarks, or "
                                     "face_detector='full_image' for an image that is already a face crop)")
                corners = np.asarray(faces[0]["box"], dtype=np.float64).reshape(2, 2)
                matrix = torch.from_numpy(crop_matrix(crop_box(corners, margin), size)).float()[None]
                return warp_affine(pixels, matrix, size, padding_mode="border")
        if pixels.shape[-2:] != (size, size):
            pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return pixels

    @torch.no_grad()
    def __call__(
        self,
        image,
        target_landmarks,
        source_landmarks=None,
        crop_source: bool = True,
        normalize_targets: bool = True,
        crop_margin: float = 16.0,
        progressive: bool = False,
        batch_size: int = 16,
        output_type: str = "pil",
        return_masks: bool = False,
        return_dict: bool = True,
        generator: torch.Generator | None = None,
        face_detector=None,
    ) -> GANnotationPipelineOutput | tuple:
        r"""
        Args:
            image: the source face: an image file path, PIL image (grey and RGBA are converted to RGB), (H, W, 3)
                uint8 array (or float in [0, 1]), or (3, H, W) tensor in [0, 1]. Without `source_landmarks` the
                face is found by `face_detector` and cropped around its box.
            target_landmarks: one shape (N, 2) or a trajectory (T, N, 2) (array, tensor or list); N is the
                model's `num_landmarks`, or iBUG 68 points, reduced to the model's scheme (66: without the inner
                mouth corners; 5: eye centres, nose tip, mouth corners).
            source_landmarks: (N, 2) points of the source face (same rule for N), to crop it with the GANnotation
                rule.
            crop_source: crop around `source_landmarks` (otherwise only resize).
            normalize_targets: re-crop every target shape to the output frame with the same rule, so only pose and
                expression are transferred; `False` when targets are already in output-crop pixels.
            crop_margin: the rule's margin (`tight`, percent of the face size).
            progressive: chain the outputs, `Y_t = G(Y_{t-1}, h_t)` with `Y_0` the source (what the recurrent
                loss makes usable); otherwise `Y_t = G(source, h_t)`, batched by `batch_size`.
            batch_size: targets per forward pass (non-progressive mode).
            output_type: `"pil"`, `"np"` or `"pt"`.
            return_masks: also return the generator's blend masks.
            generator: accepted for diffusers API symmetry; the model is deterministic.
            face_detector: finds the source face when `source_landmarks` is not given (default: the built-in
                MTCNN; a name, Hub id / folder of a transformers object-detection model, or a callable, as in
                `hfvid.modules.face_detection`); `"full_image"` takes the image as an already cropped face and
                only resizes it.
        """
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        model = self.synthesizer
        config = model.config
        targets = self._prepare_targets(target_landmarks, normalize_targets, crop_margin)
        source = self._prepare_source(image, source_landmarks, crop_source, crop_margin, face_detector)
        device, dtype = self.device, model.dtype
        source = source.to(device=device, dtype=dtype)
        legacy = config.input_range == "0_1"  # released weights: [0, 1] in, [-1, 1] out
        source_in = source if legacy else source * 2 - 1

        num_targets = len(targets)
        step = 1 if progressive else batch_size
        outputs, masks = [], []
        current = source_in
        with self.progress_bar(total=num_targets) as progress:
            for start in range(0, num_targets, step):
                points = torch.from_numpy(targets[start : start + step]).to(device=device, dtype=torch.float32)
                maps = model.render_landmarks(points)
                inputs = current if progressive else source_in.expand(len(points), -1, -1, -1)
                result = model(inputs, landmark_maps=maps)
                outputs.append(result.sample.float())
                if return_masks and result.mask is not None:
                    masks.append(result.mask.float())
                if progressive:
                    current = (result.sample + 1) / 2 if legacy else result.sample
                progress.update(len(points))

        images = ((torch.cat(outputs) + 1) / 2).clamp(0, 1).cpu()
        mask_tensor = torch.cat(masks).cpu() if masks else None
        if output_type == "pt":
            images_out, masks_out = images, mask_tensor
        else:
            array = images.permute(0, 2, 3, 1).numpy()
            images_out = self.numpy_to_pil(array) if output_type == "pil" else array
            masks_out = None if mask_tensor is None else mask_tensor.numpy()
        landmarks = targets.astype(np.float32)
        if not return_dict:
            return images_out, landmarks, masks_out
        return GANnotationPipelineOutput(images=images_out, landmarks=landmarks, masks=masks_out)


__all__ = ["GANnotationPipeline", "GANnotationPipelineOutput", "image_to_tensor"]
